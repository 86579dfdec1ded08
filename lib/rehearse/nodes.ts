/**
 * The nodes of an environment, as the rehearsal simulates them: their names, and the role labels
 * and taints that decide where pods are scheduled (a Deployment that needs a control-plane node
 * stays Pending on nodes without the label, as it would in the cluster).
 *
 * - prod: talconfig's nodes; a control-plane node has `node-role.kubernetes.io/control-plane`, and
 *   its NoSchedule taint unless `allowSchedulingOnControlPlanes: true` (Talos removes it then);
 * - dev: the nodes of `dev/kind.yaml`, named as kind names them (`<name>-control-plane`,
 *   `<name>-worker`, `<name>-worker2`, …, where `<name>` is the one `kind create cluster --name`
 *   gives, or else the file's); a control-plane node keeps its taint when the cluster has workers,
 *   as kind does.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import type { SimulatedNode } from "../kube/controlplane.ts";
import type { Env } from "../render/model.ts";
import { checkTalconfig } from "../talos/talconfig.ts";

const CONTROL_PLANE = "node-role.kubernetes.io/control-plane";
const TAINT = { key: CONTROL_PLANE, effect: "NoSchedule" };

function controlPlane(name: string, tainted: boolean): SimulatedNode {
  return { name, labels: { [CONTROL_PLANE]: "" }, ...(tainted ? { taints: [TAINT] } : {}) };
}

/**
 * The nodes of `env`, from the text of talconfig.yaml (prod) or dev/kind.yaml (dev); `kindName` is
 * the cluster name given to `kind create cluster --name`, which wins over the file's, as in kind.
 */
export function simulatedNodes(env: Env, text: string, kindName?: string): SimulatedNode[] {
  if (env === "dev") {
    const kind = (parseYaml(text) ?? {}) as { name?: string; nodes?: { role?: string }[] };
    const cluster = kindName ?? kind.name ?? "kind";
    const roles = (kind.nodes?.length ? kind.nodes : [{ role: "control-plane" }]).map((n) => n.role ?? "control-plane");
    const workers = roles.filter((r) => r === "worker").length;
    const count = new Map<string, number>();
    return roles.map((role) => {
      const n = (count.get(role) ?? 0) + 1;
      count.set(role, n);
      const name = `${cluster}-${role}${n > 1 ? n : ""}`;
      return role === "control-plane" ? controlPlane(name, workers > 0) : { name };
    });
  }
  const { config } = checkTalconfig(text, {});
  const allow = ((parseYaml(text) ?? {}) as { allowSchedulingOnControlPlanes?: boolean })
    .allowSchedulingOnControlPlanes === true;
  return config.nodes.filter((n) => n.hostname).map((n) =>
    n.controlPlane ? controlPlane(n.hostname, !allow) : { name: n.hostname }
  );
}
