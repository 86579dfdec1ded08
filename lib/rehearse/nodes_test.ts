import assert from "node:assert/strict";
import { join } from "node:path";
import { simulatedNodes } from "./nodes.ts";

const REPO = join(import.meta.dirname!, "..", "..");

const CP = "node-role.kubernetes.io/control-plane";

Deno.test("prod: talconfig's nodes, each control-plane node labelled, untainted when workloads may run there", async () => {
  const text = await Deno.readTextFile(join(REPO, "talos", "talconfig.yaml"));
  const nodes = simulatedNodes("prod", text);
  assert.deepEqual(nodes.map((n) => n.name), ["node-1", "node-2", "node-3"]);
  for (const n of nodes) {
    assert.deepEqual(n.labels, { [CP]: "" }, n.name);
    assert.equal(n.taints, undefined, n.name);
  }
  // Without allowSchedulingOnControlPlanes, Talos keeps the control-plane taint.
  const tainted = simulatedNodes("prod", text.replace(/^allowSchedulingOnControlPlanes: true$/m, ""));
  for (const n of tainted) assert.deepEqual(n.taints, [{ key: CP, effect: "NoSchedule" }], n.name);
});

Deno.test("dev: dev/kind.yaml's nodes, named as kind names them; the control plane keeps its taint beside workers", async () => {
  const text = await Deno.readTextFile(join(REPO, "dev", "kind.yaml"));
  assert.deepEqual(simulatedNodes("dev", text), [
    { name: "homelab-dev-control-plane", labels: { [CP]: "" }, taints: [{ key: CP, effect: "NoSchedule" }] },
    { name: "homelab-dev-worker" },
  ]);
  const three = "name: x\nnodes:\n  - role: control-plane\n  - role: worker\n  - role: worker\n";
  assert.deepEqual(simulatedNodes("dev", three).map((n) => n.name), ["x-control-plane", "x-worker", "x-worker2"]);
  // The name given to `kind create cluster --name` wins over the file's.
  assert.deepEqual(simulatedNodes("dev", three, "y").map((n) => n.name), ["y-control-plane", "y-worker", "y-worker2"]);
  // One control-plane node alone: kind removes its taint so that workloads run.
  assert.deepEqual(simulatedNodes("dev", "name: x\nnodes:\n  - role: control-plane\n"), [
    { name: "x-control-plane", labels: { [CP]: "" } },
  ]);
});
