import assert from "node:assert/strict";
import { canonicalYaml, installerImage, isoUrl, parseSchematic, type Schematic, schematicId } from "./schematic.ts";
import { InputError } from "../errors.ts";

// Image Factory's own test vectors (siderolabs/image-factory v1.4.0, pkg/schematic/schematic_test.go).
const VECTORS: [string, Schematic, string][] = [
  ["empty", { customization: {} }, "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"],
  [
    "config1",
    { customization: { extraKernelArgs: ["noapic", "nolapic"] } },
    "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c",
  ],
  [
    "meta",
    { customization: { meta: [{ key: 0x0a, value: "foo" }] } },
    "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f",
  ],
  [
    "secureboot",
    { customization: { secureboot: { includeWellKnownCertificates: true } } },
    "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6",
  ],
  [
    "4k sector disk image",
    { customization: { diskImage: { sectorSize: 4096 } } },
    "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea",
  ],
  [
    "overlay",
    { overlay: { name: "rpi_generic", image: "siderolabs/sbc-raspberrypi" }, customization: {} },
    "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9",
  ],
];

for (const [name, schematic, id] of VECTORS) {
  Deno.test(`schematic ID equals Image Factory's vector: ${name}`, async () => {
    assert.equal(await schematicId(schematic), id);
  });
}

Deno.test("schematic IDs of YAML inputs: empty lists and maps are left out, order is kept", async () => {
  const cases: [string, string][] = [
    ["{}", "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"],
    ['{"customization": {"extraKernelArgs": []}}', "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"],
    [
      '{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}',
      "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c",
    ],
    [
      '{"customization": {"meta": [{"key": 10, "value": "foo"}], "extraKernelArgs": [], "systemExtensions": {}}}',
      "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f",
    ],
    [
      '{"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"}, "customization": {}}',
      "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9",
    ],
  ];
  for (const [yaml, id] of cases) assert.equal(await schematicId(parseSchematic(yaml, "x.yaml")), id, yaml);
});

Deno.test("the canonical form is go-yaml's: 4-space indent, list items under their key", () => {
  assert.equal(
    canonicalYaml({ customization: { extraKernelArgs: ["noapic", "nolapic"] } }),
    "customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n",
  );
  assert.equal(
    canonicalYaml({ customization: { meta: [{ key: 10, value: "foo" }] } }),
    "customization:\n    meta:\n        - key: 10\n          value: foo\n",
  );
});

Deno.test("our schematic (drbd, i915, intel-ucode) has the ID Image Factory computes for it", async () => {
  const ours: Schematic = {
    customization: {
      systemExtensions: { officialExtensions: ["siderolabs/drbd", "siderolabs/i915", "siderolabs/intel-ucode"] },
    },
  };
  const id = "9c4964a2abdf6ef1fd114d60d37dd8288a37731d839860169e456ec7b9ff590e";
  assert.equal(await schematicId(ours), id);
  // Order matters: the factory does not sort.
  const reordered = {
    customization: {
      systemExtensions: { officialExtensions: ["siderolabs/i915", "siderolabs/drbd", "siderolabs/intel-ucode"] },
    },
  };
  assert.notEqual(await schematicId(reordered), id);
  assert.equal(installerImage(id, "v1.14.0", true), `factory.talos.dev/metal-installer-secureboot/${id}:v1.14.0`);
  assert.equal(isoUrl(id, "v1.14.0", true), `https://factory.talos.dev/image/${id}/v1.14.0/metal-amd64-secureboot.iso`);
});

Deno.test("an unknown schematic field is rejected with file and line", () => {
  assert.throws(
    () => parseSchematic("customization:\n  systemExtension:\n    officialExtensions: []\n", "talos/schematic.yaml"),
    (e) =>
      e instanceof InputError &&
      e.message === "talos/schematic.yaml:2: unknown schematic field 'customization.systemExtension'",
  );
});
