import assert from "node:assert/strict";
import { join } from "node:path";
import { chartMayVary, differingPointers, hintFor, unstableObjects } from "./build.ts";
import type { KubeObject } from "./model.ts";

const secret = (token: string, name = "s"): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: "ns" },
  data: { "tls.crt": token, fixed: "x" },
});

Deno.test("differingPointers names the leaves that differ, escaped", () => {
  assert.deepEqual(differingPointers({ a: { "b/c": 1, d: [1, 2] } }, { a: { "b/c": 2, d: [1, 3] } }), [
    "/a/b~1c",
    "/a/d/1",
  ]);
  assert.deepEqual(differingPointers({ a: 1 }, { a: 1 }), []);
});

Deno.test("unstableObjects: only objects that differ, with their pointers", () => {
  const u = unstableObjects([secret("one"), secret("same", "t")], [secret("two"), secret("same", "t")]);
  assert.deepEqual(u, [{
    ref: { apiVersion: "v1", kind: "Secret", namespace: "ns", name: "s" },
    pointers: ["/data/tls.crt"],
  }]);
  assert.deepEqual(unstableObjects([secret("a")], []), [{
    ref: { apiVersion: "v1", kind: "Secret", namespace: "ns", name: "s" },
    pointers: [""],
  }]);
});

Deno.test("hintFor knows the build failures the stacks ran into", () => {
  assert.match(hintFor("Error: namespace transformation produces ID conflict: [...]"), /unsetOnly: true/);
  assert.match(hintFor("may not add resource with an already registered id: Namespace.v1.[noGrp]/x"), /same object/);
  assert.match(hintFor("something else"), /kustomize build/);
});

Deno.test("chartMayVary finds varying template functions, in subcharts too, and only in actions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const write = async (rel: string, text: string) => {
      await Deno.mkdir(join(dir, rel, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, rel), text);
    };
    await write("c/Chart.yaml", "name: c\nversion: 0.1.0\n");
    await write(
      "c/templates/cm.yaml",
      "# now and then: genCA in a comment outside actions\ndata: {{ .Values.x | quote }}\n",
    );
    assert.equal(await chartMayVary(join(dir, "c")), undefined);
    await write("c/templates/mtime.yaml", 'at: {{ dateInZone "2006-01-02" (now) "UTC" }}\n');
    assert.equal(await chartMayVary(join(dir, "c")), "clock");
    await write("c/charts/sub/templates/_helpers.tpl", '{{- define "x" -}}{{ genCA "ca" 365 }}{{- end -}}\n');
    assert.equal(await chartMayVary(join(dir, "c")), "random");
    // A packaged subchart: may vary until the chart cache has unpacked it beside the chart.
    await write("e/c/Chart.yaml", "name: c\n");
    await write("e/c/charts/sub-1.0.0.tgz", "");
    assert.equal(await chartMayVary(join(dir, "e", "c")), "random");
    await write("e/.subcharts/0/sub/templates/cm.yaml", "data: {{ .Values.x }}\n");
    assert.equal(await chartMayVary(join(dir, "e", "c")), undefined);
    await write("e/.subcharts/0/sub/templates/secret.yaml", "data: {{ uuidv4 }}\n");
    assert.equal(await chartMayVary(join(dir, "e", "c")), "random");
    await write("d/templates/s.yaml", "token: {{ randAlphaNum 24 }}\n");
    assert.equal(await chartMayVary(join(dir, "d")), "random");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
