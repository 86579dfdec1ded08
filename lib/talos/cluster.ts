/**
 * Talking to the nodes through talosctl: apply, bootstrap, kubeconfig, rolling upgrades, status.
 * Every command names this repository's talosconfig and context explicitly, so a TALOSCONFIG
 * pointing at another cluster changes nothing; an installed node that does not accept this
 * repository's credentials belongs to another cluster and is refused.
 *
 * @module
 */

import { join } from "node:path";
import { exitUnderWay, onExit } from "../cleanup.ts";
import { type Arg, cmd, type Command, CommandError } from "../cmd.ts";
import { HomelabError, InputError, UsageError } from "../errors.ts";
import { duration } from "../ui.ts";
import type { TalosContext } from "./config.ts";
import { type Talconfig, type TalNode } from "./talconfig.ts";
import { poll } from "../poll.ts";
import { PATHS } from "../repo.ts";

/** Where a node stands. */
export type NodeState = "maintenance" | "installed" | "unreachable";

/** How long to wait, and how often to look. */
export interface Timing {
  readonly pollMs: number;
  readonly deadlineMs: number;
  /** Seconds between progress lines (default 30). */
  readonly reportEvery?: number;
}

/** Waits as on a real cluster: every 5 s, for up to 10 minutes (a node upgrade: 15). */
const DEFAULT_TIMING: Timing = { pollMs: 5_000, deadlineMs: 10 * 60_000 };

const TRANSIENT =
  /FailedPrecondition|Unavailable|DeadlineExceeded|connection refused|i\/o timeout|no route to host|time is not in sync/;

/** The repository-local kubeconfig (`.envrc` exports it). */
export function kubeconfigPath(ctx: TalosContext): string {
  return join(ctx.root, ".kube", "config");
}

/** The cluster's nodes and the talosctl commands for them. */
export class Cluster {
  readonly talosconfig: string;

  constructor(readonly ctx: TalosContext, readonly config: Talconfig, readonly timing: Timing = DEFAULT_TIMING) {
    this.talosconfig = join(ctx.root, PATHS.talosOut, "talosconfig");
  }

  /** `talosctl` with this repository's talosconfig and context. */
  talosctl(node: TalNode, args: Arg[], options: Omit<Command, "tool" | "args"> = {}): Command {
    return cmd("talosctl", [
      "--talosconfig",
      this.talosconfig,
      "--context",
      this.config.clusterName,
      "--nodes",
      node.ipAddress,
      "--endpoints",
      node.ipAddress,
      ...args,
    ], options);
  }

  /** `talosctl … --insecure`: for nodes in maintenance mode, which have no credentials yet. */
  insecure(node: TalNode, args: Arg[], options: Omit<Command, "tool" | "args"> = {}): Command {
    return cmd("talosctl", ["--nodes", node.ipAddress, "--endpoints", node.ipAddress, ...args, "--insecure"], options);
  }

  /** The nodes to act on: all, or the one named (an unknown name lists the valid ones). */
  select(name?: string): TalNode[] {
    if (!name) return [...this.config.nodes];
    const node = this.config.nodes.find((n) => n.hostname === name || n.ipAddress === name);
    if (!node) {
      throw new UsageError(
        `no node '${name}' in ${PATHS.talconfig}`,
        `choose from: ${this.config.nodes.map((n) => n.hostname).join(", ")}`,
      );
    }
    return [node];
  }

  /** The first control plane: the one etcd is bootstrapped on. */
  firstControlPlane(): TalNode {
    const node = this.config.nodes.find((n) => n.controlPlane);
    if (!node) throw new InputError("has no control plane", { file: PATHS.talconfig });
    return node;
  }

  async #run(c: Command): Promise<{ code: number; stdout: string; stderr: string }> {
    return await this.ctx.runner.run(c, { check: false });
  }

  /** Maintenance mode answers insecure requests; an installed node demands a client certificate. */
  async state(node: TalNode): Promise<{ state: NodeState; detail: string }> {
    const r = await this.#run(
      this.insecure(node, ["get", "machinestatus", "-o", "json"], { readOnly: true, timeout: 20_000 }),
    );
    if (r.code === 0) return { state: "maintenance", detail: "maintenance mode" };
    const detail = lastLine(r.stderr);
    if (/certificate required/.test(r.stderr)) return { state: "installed", detail: "installed" };
    return { state: "unreachable", detail };
  }

  /** Refuses an installed node that does not accept this repository's credentials. */
  async requireOurs(node: TalNode): Promise<void> {
    const r = await this.#run(
      this.talosctl(node, ["get", "machinestatus", "-o", "json"], { readOnly: true, timeout: 20_000 }),
    );
    if (r.code !== 0) {
      throw new HomelabError(
        `${node.hostname} (${node.ipAddress}) is installed but does not accept ${PATHS.talosOut}/talosconfig: ${
          lastLine(r.stderr)
        }`,
        {
          hint:
            "it may belong to another cluster (refused), or the configs were generated from another secret bundle; " +
            "check the address and talos/talsecret.sops.yaml",
        },
      );
    }
  }

  /** The Talos version a node runs (`v1.14.0`), or undefined when it does not say. */
  async version(node: TalNode, insecure = false): Promise<string | undefined> {
    const c = insecure
      ? this.insecure(node, ["version"], { readOnly: true, timeout: 20_000 })
      : this.talosctl(node, ["version"], { readOnly: true, timeout: 20_000 });
    const r = await this.#run(c);
    return /Server:[\s\S]*?Tag:\s+(v\S+)/.exec(r.stdout)?.[1];
  }

  /**
   * Retries `attempt` until it says done, or the deadline passes; shows progress meanwhile, with
   * `status()` (the last state seen) in each progress line.
   */
  async waitFor<T>(
    label: string,
    attempt: () => Promise<T | undefined>,
    timing: Timing = this.timing,
    status?: () => string,
  ): Promise<T> {
    const start = Date.now();
    return await this.ctx.ui.progress(
      label,
      async () => {
        const result = await poll(attempt, { timeoutMs: timing.deadlineMs, delayMs: timing.pollMs });
        if (result === undefined) throw new HomelabError(`gave up after ${duration(Date.now() - start)}: ${label}`);
        return result;
      },
      timing.reportEvery ?? 30,
      status ? () => `last seen: ${status()}` : undefined,
    );
  }

  configFile(node: TalNode): string {
    return join(this.ctx.root, PATHS.talosOut, `${this.config.clusterName}-${node.hostname}.yaml`);
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).pop() ?? "";
}

/** What `apply` did (or would do) for one node. */
export interface Applied {
  readonly node: string;
  readonly state: NodeState;
  readonly action: "applied" | "would apply" | "skipped";
  readonly detail: string;
}

/**
 * `talos apply`: per node, maintenance mode gets its config with `--insecure`, an installed node
 * through its credentials with `mode` (auto: no reboot unless the change needs one).
 */
export async function apply(cluster: Cluster, options: { node?: string; mode?: string } = {}): Promise<Applied[]> {
  const nodes = cluster.select(options.node);
  for (const node of nodes) {
    try {
      await Deno.stat(cluster.configFile(node));
    } catch {
      throw new InputError(`${cluster.configFile(node)} is missing`, { hint: "run `deno task talos genconfig` first" });
    }
  }
  const results: Applied[] = [];
  for (const node of nodes) {
    const { state, detail } = await cluster.state(node);
    const file = cluster.configFile(node);
    let c: Command;
    if (state === "maintenance") {
      c = cluster.insecure(node, ["apply-config", "--file", file]);
    } else if (state === "installed") {
      await cluster.requireOurs(node);
      c = cluster.talosctl(node, ["apply-config", "--file", file, "--mode", options.mode ?? "auto"]);
    } else {
      results.push({ node: node.hostname, state, action: "skipped", detail: `unreachable: ${detail}` });
      continue;
    }
    await cluster.ctx.runner.run(c);
    results.push({ node: node.hostname, state, action: cluster.ctx.runner.dryRun ? "would apply" : "applied", detail });
  }
  return results;
}

/** `talos bootstrap`: etcd on the first control plane, once; "AlreadyExists" counts as done. */
export async function bootstrap(cluster: Cluster): Promise<"bootstrapped" | "already" | "dry-run"> {
  const node = cluster.firstControlPlane();
  const c = cluster.talosctl(node, ["bootstrap"], { timeout: 60_000 });
  if (cluster.ctx.runner.dryRun) {
    await cluster.ctx.runner.run(c);
    return "dry-run";
  }
  let last = "";
  return await cluster.waitFor(`bootstrapping etcd on ${node.hostname} (${node.ipAddress})`, async () => {
    const r = await cluster.ctx.runner.run(c, { check: false });
    if (r.code === 0) return "bootstrapped" as const;
    if (/AlreadyExists/.test(r.stderr)) return "already" as const;
    last = lastLine(r.stderr);
    if (TRANSIENT.test(r.stderr)) return undefined;
    throw new CommandError({ tool: "talosctl", code: r.code, stderrTail: last, command: "talosctl bootstrap" });
  }).catch((err) => {
    if (err instanceof CommandError) throw err;
    throw new HomelabError(`etcd was not bootstrapped on ${node.hostname}: ${last || (err as Error).message}`, {
      hint: "check the node with `deno task talos status`; re-running bootstrap is safe",
    });
  });
}

/** `talos kubeconfig`: the cluster's kubeconfig into the repository-local path, 0600. */
export async function kubeconfig(cluster: Cluster): Promise<string> {
  const node = cluster.firstControlPlane();
  const path = kubeconfigPath(cluster.ctx);
  if (!cluster.ctx.runner.dryRun) await Deno.mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  await cluster.ctx.runner.run(cluster.talosctl(node, ["kubeconfig", path, "--force", "--merge=false"]));
  if (!cluster.ctx.runner.dryRun) await Deno.chmod(path, 0o600);
  return path;
}

/** A rolling upgrade stopped at a node. */
export class UpgradeError extends HomelabError {}

/** What `upgrade` did per node. */
export interface Upgraded {
  readonly node: string;
  readonly from?: string;
  readonly action: "upgraded" | "current" | "would upgrade";
}

async function etcdHealthy(cluster: Cluster, node: TalNode): Promise<boolean> {
  const r = await cluster.ctx.runner.run(
    cluster.talosctl(node, ["service", "etcd"], { readOnly: true, timeout: 20_000 }),
    { check: false },
  );
  return r.code === 0 && /HEALTH\s+OK/.test(r.stdout);
}

async function nodeReady(cluster: Cluster, node: TalNode): Promise<boolean> {
  const r = await cluster.ctx.runner.run(
    cmd("kubectl", [
      "--kubeconfig",
      kubeconfigPath(cluster.ctx),
      "get",
      "node",
      node.hostname,
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ], { readOnly: true, timeout: 20_000 }),
    { check: false },
  );
  return r.code === 0 && r.stdout.trim() === "True";
}

/**
 * `talos upgrade`: one node at a time to the pinned Talos version with `installer` (the Secure
 * Boot installer of schematic.yaml). After each node: back on the new version, etcd healthy,
 * Kubernetes node Ready, before the next starts. Nodes already on the version are skipped, so a
 * stopped upgrade resumes where it stopped.
 */
export async function upgrade(
  cluster: Cluster,
  installer: string,
  options: { node?: string; timing?: Timing } = {},
): Promise<Upgraded[]> {
  const nodes = cluster.select(options.node);
  const timing = options.timing ?? { ...cluster.timing, deadlineMs: Math.max(cluster.timing.deadlineMs, 15 * 60_000) };
  const done: Upgraded[] = [];
  let current: TalNode | undefined;
  // Interrupted (Ctrl-C, a closed terminal): say where the rolling upgrade stands.
  let finished = false;
  onExit(() => {
    if (finished || cluster.ctx.runner.dryRun) return;
    const upgraded = done.filter((d) => d.action !== "would upgrade").map((d) => d.node);
    const rest = nodes.filter((n) => n !== current && !upgraded.includes(n.hostname)).map((n) => n.hostname);
    cluster.ctx.ui.warn(
      `talos upgrade interrupted. Done: ${upgraded.join(", ") || "none"}; ` +
        `under way: ${current?.hostname ?? "none"}; not started: ${rest.join(", ") || "none"}. ` +
        "Check the nodes with `deno task talos status`, then re-run `deno task talos upgrade` (done nodes are skipped)",
    );
  });
  try {
    const upgraded = await upgradeNodes(cluster, installer, nodes, timing, done, (n) => current = n);
    finished = true;
    return upgraded;
  } catch (err) {
    // Failed because Ctrl-C stopped talosctl: the exit path still says where the upgrade stands.
    if (!exitUnderWay()) finished = true;
    throw err;
  }
}

async function upgradeNodes(
  cluster: Cluster,
  installer: string,
  nodes: readonly TalNode[],
  timing: Timing,
  done: Upgraded[],
  starting: (node: TalNode | undefined) => void,
): Promise<Upgraded[]> {
  const wanted = cluster.config.talosVersion;
  for (const [i, node] of nodes.entries()) {
    starting(node);
    const from = await cluster.version(node);
    if (from === undefined) {
      const { state, detail } = await cluster.state(node);
      const why = state === "maintenance"
        ? "is in maintenance mode: install it with `deno task talos apply` first"
        : state === "installed"
        ? "does not accept this repository's talosconfig"
        : `does not answer (${detail})`;
      throw new UpgradeError(`${node.hostname} (${node.ipAddress}) ${why}; nothing was upgraded on it`, {
        hint: `upgraded so far: ${
          done.filter((d) => d.action === "upgraded").map((d) =>
            d.node
          ).join(", ") || "none"
        }. ` +
          "Bring the node back, then re-run `deno task talos upgrade` (finished nodes are skipped)",
      });
    }
    if (from === wanted) {
      done.push({ node: node.hostname, from, action: "current" });
      continue;
    }
    const upgradeCmd = cluster.talosctl(node, ["upgrade", "--image", installer, "--wait", "--timeout", "15m"], {
      timeout: 20 * 60_000,
    });
    if (cluster.ctx.runner.dryRun) await cluster.ctx.runner.run(upgradeCmd);
    else {
      let last = "";
      await cluster.waitFor(
        `[${i + 1}/${nodes.length}] upgrading ${node.hostname} from ${from} to ${wanted} ` +
          "(talosctl upgrade --wait: the node pulls the installer, reboots, comes back)",
        async () => {
          const r = await cluster.ctx.runner.run(upgradeCmd, { check: false });
          if (r.code === 0) return true;
          last = lastLine(r.stderr);
          throw new CommandError({ tool: "talosctl", code: r.code, stderrTail: last, command: "talosctl upgrade" });
        },
        timing,
        () => last || "talosctl has not answered yet",
      );
    }
    if (cluster.ctx.runner.dryRun) {
      done.push({ node: node.hostname, from, action: "would upgrade" });
      continue;
    }
    let seen = "no answer yet";
    try {
      await cluster.waitFor(
        `waiting for ${node.hostname} to come back on ${wanted}, etcd healthy and Ready`,
        async () => {
          const version = await cluster.version(node);
          const etcd = version ? await etcdHealthy(cluster, node) : false;
          const ready = version ? await nodeReady(cluster, node) : false;
          seen = `version ${version ?? "unknown"}, etcd ${etcd ? "healthy" : "not healthy"}, node ${
            ready ? "Ready" : "not Ready"
          }`;
          return version === wanted && etcd && ready ? true : undefined;
        },
        timing,
        () => seen,
      );
    } catch {
      const untouched = nodes.slice(i + 1).map((n) => n.hostname);
      throw new UpgradeError(
        `${node.hostname} (${node.ipAddress}) did not come back healthy within ${
          duration(timing.deadlineMs)
        } (last seen: ${seen})`,
        {
          hint: `upgraded: ${done.filter((d) => d.action === "upgraded").map((d) => d.node).join(", ") || "none"}; ` +
            `not started: ${untouched.join(", ") || "none"}. The rolling upgrade stopped here; look at the node ` +
            "(`deno task talos status`), then re-run `deno task talos upgrade`",
        },
      );
    }
    done.push({ node: node.hostname, from, action: "upgraded" });
  }
  starting(undefined);
  return done;
}

/** `talos upgrade-k8s`: Kubernetes to the pinned version, through the first control plane. */
export async function upgradeKubernetes(cluster: Cluster, options: { preview?: boolean } = {}): Promise<void> {
  const node = cluster.firstControlPlane();
  const to = cluster.config.kubernetesVersion.replace(/^v/, "");
  const c = cluster.talosctl(node, ["upgrade-k8s", "--to", to, ...(options.preview ? ["--dry-run"] : [])], {
    timeout: 60 * 60_000,
    inherit: true,
    readOnly: options.preview,
  });
  await cluster.ctx.runner.run(c);
}

/** One node as `status` sees it. */
export interface NodeStatus {
  readonly node: string;
  readonly address: string;
  readonly state: NodeState;
  readonly detail: string;
  readonly talos?: string;
  readonly pinned: string;
  readonly secureBoot?: boolean;
  readonly encryption: Record<"STATE" | "EPHEMERAL", string | undefined>;
}

function spec(stdout: string): Record<string, unknown> | undefined {
  try {
    return (JSON.parse(stdout) as { spec?: Record<string, unknown> }).spec;
  } catch {
    return undefined;
  }
}

/** `talos status`: per node — reachable, maintenance or installed, version, Secure Boot, encryption. */
export async function status(cluster: Cluster, options: { node?: string } = {}): Promise<NodeStatus[]> {
  return await Promise.all(
    cluster.select(options.node).map(async (node): Promise<NodeStatus> => {
      const { state, detail } = await cluster.state(node);
      const base = { node: node.hostname, address: node.ipAddress, state, detail, pinned: cluster.config.talosVersion };
      if (state === "unreachable") return { ...base, encryption: { STATE: undefined, EPHEMERAL: undefined } };
      const insecure = state === "maintenance";
      const get = async (...args: string[]) => {
        const c = insecure
          ? cluster.insecure(node, ["get", ...args, "-o", "json"], { readOnly: true, timeout: 20_000 })
          : cluster.talosctl(node, ["get", ...args, "-o", "json"], { readOnly: true, timeout: 20_000 });
        const r = await cluster.ctx.runner.run(c, { check: false });
        return r.code === 0 ? spec(r.stdout) : undefined;
      };
      const [talos, security, stateVolume, ephemeral] = await Promise.all([
        cluster.version(node, insecure),
        get("securitystate"),
        insecure ? Promise.resolve(undefined) : get("volumestatus", "STATE"),
        insecure ? Promise.resolve(undefined) : get("volumestatus", "EPHEMERAL"),
      ]);
      const enc = (s: Record<string, unknown> | undefined) => (s ? String(s.encryptionProvider ?? "none") : undefined);
      return {
        ...base,
        talos,
        secureBoot: typeof security?.secureBoot === "boolean" ? security.secureBoot : undefined,
        encryption: { STATE: enc(stateVolume), EPHEMERAL: enc(ephemeral) },
      };
    }),
  );
}
