/**
 * Renovate sees every pin: each carries a `renovate: datasource=… depName=…` comment on the line
 * above it, read by one annotation manager in renovate.json. These tests apply that manager's own
 * patterns (as Renovate's `--dry-run=extract` does) to the repository's files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOOLS } from "../lib/tools.ts";
import { git, REPO } from "./helpers.ts";

interface Manager {
  description?: string;
  managerFilePatterns: string[];
  matchStrings: string[];
}

const renovate = JSON.parse(await Deno.readTextFile(join(REPO, "renovate.json")));
const managers = renovate.customManagers as Manager[];
const annotations = managers.filter((m) => m.matchStrings.some((s) => s.startsWith("renovate: datasource=")));
const tracked = git(REPO, "ls-files").split("\n").filter(Boolean);
const covered = (m: Manager, file: string) => m.managerFilePatterns.some((p) => new RegExp(p.slice(1, -1)).test(file));

interface Pin {
  /** 1-based line of the pinned value. */
  line: number;
  depName?: string;
  datasource?: string;
  value?: string;
  digest?: string;
}

/** What the managers of renovate.json extract from `file`. */
async function pins(file: string, from: readonly Manager[] = managers): Promise<Pin[]> {
  const text = await Deno.readTextFile(join(REPO, file));
  const out: Pin[] = [];
  for (const m of from.filter((m) => covered(m, file))) {
    for (const s of m.matchStrings) {
      for (const hit of text.matchAll(new RegExp(s, "g"))) {
        const g = hit.groups ?? {};
        const at = hit.index! + hit[0].length;
        out.push({
          line: text.slice(0, at).split("\n").length,
          depName: g.depName,
          datasource: g.datasource,
          value: g.currentValue,
          digest: g.currentDigest,
        });
      }
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

Deno.test("one annotation manager, and one for the plain .deno-version file", () => {
  assert.equal(annotations.length, 1, "renovate.json has more than one annotation manager");
  assert.deepEqual(managers.filter((m) => !annotations.includes(m)).map((m) => m.managerFilePatterns), [[
    "/^\\.deno-version$/",
  ]]);
});

Deno.test("every pin of lib/tools.ts carries an annotation that Renovate reads", async () => {
  const text = await Deno.readTextFile(join(REPO, "lib/tools.ts"));
  const start = text.indexOf("const V = {");
  assert.ok(start >= 0, "lib/tools.ts has no `const V = {` block of pins");
  const startLine = text.slice(0, start).split("\n").length;
  const block = text.slice(start, text.indexOf("} as const;", start)).split("\n");
  const entries = block.map((l, i) => ({ line: startLine + i, m: /^ {2}(\w+): "([^"]+)",$/.exec(l) }))
    .filter((e) => e.m);
  assert.ok(entries.length >= TOOLS.length - 1, "the pins block has fewer entries than the manifest");
  const found = await pins("lib/tools.ts");
  for (const { line, m } of entries) {
    const pin = found.find((p) => p.line === line);
    assert.ok(
      pin,
      `lib/tools.ts:${line}: the pin ${m![1]} ${m![2]} has no \`// renovate: datasource=… depName=…\` comment ` +
        "on the line above it, so Renovate never updates it",
    );
    assert.equal(pin.value, m![2], `lib/tools.ts:${line}: Renovate reads ${pin.value}, not ${m![2]}`);
  }
  for (const t of TOOLS) assert.ok(found.some((p) => p.value === t.version), `no annotation reads ${t.name}`);
});

Deno.test("every annotation in the repository is in a file the manager reads, and matches a pin", async () => {
  for (const file of tracked) {
    if (file === "renovate.json" || file.startsWith("tests/")) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(join(REPO, file));
    } catch {
      continue;
    }
    const count = text.match(/renovate: datasource=[\w-]+ depName=/g)?.length ?? 0;
    if (!count) continue;
    assert.ok(covered(annotations[0], file), `${file} has annotations, but renovate.json does not read it`);
    assert.equal((await pins(file, annotations)).length, count, `${file}: an annotation reads no pin below it`);
  }
});

Deno.test("the pins outside lib/tools.ts: Talos, Kubernetes, kind's node image, release URLs, Cilium's CRDs, the flake", async () => {
  const values = async (file: string) => (await pins(file)).map((p) => p.value);
  assert.deepEqual(await values("talos/talconfig.yaml"), ["v1.14.0", "v1.37.2"]);
  const node = await pins("dev/kind.yaml");
  assert.equal(node.length, 1);
  assert.match(`${node[0].depName}:${node[0].value}@${node[0].digest}`, /^kindest\/node:v\d+\.\d+\.\d+@sha256:/);
  assert.deepEqual(await values("system/gateway-api/kustomization.yaml"), ["1.6.1"]);
  assert.deepEqual(await values("platform/kubevirt/kustomization.yaml"), ["1.9.0"]);
  const cilium = await pins("schemas/runtime-crds.yaml");
  assert.deepEqual(cilium.map((p) => [p.depName, p.datasource]), [["cilium", "helm"]]);
  const nix = await pins("flake.nix");
  assert.equal(nix.length, 1);
  assert.match(nix[0].digest ?? "", /^[0-9a-f]{40}$/);
  assert.deepEqual(await values(".deno-version"), [(await Deno.readTextFile(join(REPO, ".deno-version"))).trim()]);
  // The nix manager needs a flake.lock, which this flake does not have.
  assert.equal(renovate.nix?.enabled, false);
  assert.ok(!tracked.includes("flake.lock"));
});
