/**
 * `talos/talconfig.yaml`: loading it as talhelper does (`${NAME}` substituted from
 * `talos/talenv.yaml`, node fields over their group's), and the checks that protect this cluster's
 * design before talhelper generates anything.
 *
 * @module
 */

import { isMap, LineCounter, parseDocument } from "yaml";
import { InputError } from "../errors.ts";
import { PINS } from "../tools.ts";
import type { Schematic } from "./schematic.ts";
import { kubernetesVersionProblem, PATHS } from "../repo.ts";

/**
 * Which Kubernetes versions each Talos minor supports (Talos machinery `compatibility/talosNNN`).
 *
 * A compatibility table, not a pin: each row is a fact about a Talos release, and Renovate moving
 * one of its versions would make it false, so the rows carry no annotation. The pins are
 * `talosVersion` and `kubernetesVersion` in talos/talconfig.yaml (annotated there); when Renovate
 * moves Talos to a minor without a row, or Kubernetes out of the row's range, tests/renovate_test.ts
 * fails and says to add the row from that file of the new release.
 */
export const KUBERNETES_SUPPORT: Record<string, readonly [string, string]> = {
  "1.12": ["1.30.0", "1.35.99"],
  "1.13": ["1.31.0", "1.36.99"],
  "1.14": ["1.32.0", "1.37.99"],
};

/** One node, with its group's values filled in. */
export interface TalNode {
  readonly hostname: string;
  readonly ipAddress: string;
  readonly controlPlane: boolean;
  readonly schematic?: Schematic;
  readonly secureboot: boolean;
  readonly talosImageURL?: string;
  readonly vip?: string;
}

/** The parts of talconfig the tasks use. */
export interface Talconfig {
  readonly clusterName: string;
  readonly talosVersion: string;
  readonly kubernetesVersion: string;
  readonly endpoint: string;
  readonly nodes: readonly TalNode[];
}

/** One thing wrong with talconfig. */
export interface Problem {
  readonly line?: number;
  readonly message: string;
  readonly fix: string;
}

/**
 * A YAML parser's message ("… at line 5, column 3:" and the lines around it with a caret under
 * the column) with its code frame kept, each frame line marked `|`.
 */
function withFrame(message: string): string {
  const [first, ...rest] = message.trimEnd().split("\n");
  const frame = rest.filter((l, i) => i > 0 || l.trim() !== "");
  return frame.length ? `${first}\n${frame.map((l) => `      | ${l}`).join("\n")}` : first;
}

/** `talenv.yaml`'s values (a flat map of strings). */
export function parseEnv(text: string, file: string): Record<string, string> {
  const doc = parseDocument(text);
  if (doc.errors.length) {
    throw new InputError(withFrame(doc.errors[0].message), { file, line: doc.errors[0].linePos?.[0]?.line });
  }
  const value = doc.toJS() ?? {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InputError("must be a map of NAME: value", { file });
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
}

/** Replaces `${NAME}` (and `$NAME`) as talhelper's envsubst does; names it cannot resolve are returned. */
function substitute(text: string, env: Record<string, string>): { text: string; missing: string[] } {
  const missing = new Set<string>();
  const out = text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (name in env) return env[name];
    missing.add(name);
    return "";
  });
  return { text: out, missing: [...missing] };
}

/** Parses a dotted IPv4 address into its 32-bit value; undefined when it is not one. */
export function ipv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Parses `a.b.c.d/n` (0 ≤ n ≤ 32); anything else (`a.b.c.d/`, `/0x18`, `/24/8`) is undefined. */
export function cidr(s: string): { base: number; bits: number } | undefined {
  const [ip, bits, ...rest] = s.split("/");
  const base = ipv4(ip ?? "");
  const n = rest.length === 0 && /^\d{1,2}$/.test(bits ?? "") ? Number(bits) : NaN;
  if (base === undefined || !Number.isInteger(n) || n < 0 || n > 32) return undefined;
  return { base, bits: n };
}

/** Whether the address `ip` (from {@link ipv4}) lies in the network `net` (from {@link cidr}). */
export function inSubnet(ip: number, net: { base: number; bits: number }): boolean {
  const mask = net.bits === 0 ? 0 : (~0 << (32 - net.bits)) >>> 0;
  return ((ip & mask) >>> 0) === ((net.base & mask) >>> 0);
}

function versionParts(v: string): number[] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? m.slice(1).map(Number) : undefined;
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

type Json = Record<string, unknown>;

/**
 * Loads talconfig's text (with `env` from talenv.yaml) and checks it. Returns the config (as far
 * as it could be read) and every problem found, each with its line where known.
 */
export function checkTalconfig(
  rawText: string,
  env: Record<string, string>,
): { config: Talconfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const { text, missing } = substitute(rawText, env);
  for (const name of missing) {
    problems.push({ message: `\${${name}} is not defined`, fix: `define ${name} in ${PATHS.talenv}` });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0];
    problems.push({ line: e.linePos?.[0]?.line, message: withFrame(e.message), fix: "fix the YAML syntax" });
    return { config: { clusterName: "", talosVersion: "", kubernetesVersion: "", endpoint: "", nodes: [] }, problems };
  }
  const lineOf = (path: (string | number)[]): number | undefined => {
    const node = doc.getIn(path, true) as { range?: [number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
    const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === path[path.length - 1]);
      const r = (pair?.key as { range?: [number] })?.range;
      if (r) return lines.linePos(r[0]).line;
    }
    return undefined;
  };
  const data = (doc.toJS() ?? {}) as Json;
  const str = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

  for (const key of ["clusterName", "talosVersion", "kubernetesVersion", "endpoint"]) {
    if (!str(data[key])) problems.push({ message: `${key} is missing`, fix: `set ${key} at the top level` });
  }
  const talosVersion = str(data.talosVersion);
  const kubernetesVersion = str(data.kubernetesVersion);
  const talos = versionParts(talosVersion);
  const kube = versionParts(kubernetesVersion);
  if (talosVersion && !talos) {
    problems.push({
      line: lineOf(["talosVersion"]),
      message: `talosVersion '${talosVersion}' is not vX.Y.Z`,
      fix: `write it as vX.Y.Z (e.g. v${PINS.talosctl})`,
    });
  }
  const kubeProblem = kubernetesVersionProblem(kubernetesVersion);
  if (kubernetesVersion && kubeProblem) problems.push({ line: lineOf(["kubernetesVersion"]), ...kubeProblem });
  if (talos && kube) {
    const support = KUBERNETES_SUPPORT[`${talos[0]}.${talos[1]}`];
    if (!support) {
      problems.push({
        line: lineOf(["talosVersion"]),
        message: `Talos ${talosVersion} is not one this tooling knows (${
          Object.keys(KUBERNETES_SUPPORT).map((v) => `v${v}`).join(", ")
        })`,
        fix:
          "use a Talos version the pinned talhelper supports, and add its Kubernetes range to lib/talos/talconfig.ts",
      });
    } else if (compare(kube, versionParts(support[1])!) > 0 || compare(kube, versionParts(support[0])!) < 0) {
      const tooNew = compare(kube, versionParts(support[1])!) > 0;
      problems.push({
        line: lineOf(["kubernetesVersion"]),
        message: `Kubernetes ${kubernetesVersion} is too ${tooNew ? "new" : "old"} for Talos ${talosVersion} ` +
          `(it supports ${support[0]} to ${support[1].replace(/\.99$/, ".x")})`,
        fix: tooNew ? "upgrade Talos first, or pin an older Kubernetes" : "pin a newer Kubernetes",
      });
    }
  }
  const cni = (data.cniConfig as Json | undefined)?.name;
  if (cni !== "none") {
    problems.push({
      line: lineOf(["cniConfig"]),
      message: `cniConfig.name is ${
        cni === undefined ? "not set" : `'${str(cni)}'`
      }, but Cilium is installed by bootstrap`,
      fix: "set cniConfig: {name: none}",
    });
  }

  const env2 = env.LAN_SUBNET ? cidr(env.LAN_SUBNET) : undefined;
  if (!env2) {
    problems.push({
      message: `LAN_SUBNET is ${env.LAN_SUBNET ? `'${env.LAN_SUBNET}', not a CIDR` : "not set"}`,
      fix: `set LAN_SUBNET (e.g. 192.168.1.0/24) in ${PATHS.talenv}`,
    });
  }

  const rawNodes = Array.isArray(data.nodes) ? data.nodes as Json[] : [];
  if (rawNodes.length === 0) {
    problems.push({ line: lineOf(["nodes"]), message: "nodes is empty", fix: "list the nodes" });
  }
  const groups = { cp: (data.controlPlane ?? {}) as Json, worker: (data.worker ?? {}) as Json };
  const nodes: TalNode[] = [];
  const seenHost = new Map<string, number>();
  const seenIp = new Map<string, number>();
  rawNodes.forEach((n, i) => {
    const cp = n.controlPlane === true;
    const group = cp ? groups.cp : groups.worker;
    const pick = (key: string) => (n[key] !== undefined ? n[key] : group[key]);
    const hostname = str(n.hostname);
    const ipAddress = str(n.ipAddress);
    const at = (key: string) => lineOf(["nodes", i, key]) ?? lineOf(["nodes", i]);
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(hostname)) {
      problems.push({
        line: at("hostname"),
        message: `node ${i + 1} has ${hostname ? `an invalid hostname '${hostname}'` : "no hostname"}`,
        fix: "use a DNS label: lower-case letters, digits, '-'",
      });
    } else if (seenHost.has(hostname)) {
      problems.push({
        line: at("hostname"),
        message: `hostname '${hostname}' is used twice (nodes ${seenHost.get(hostname)! + 1} and ${i + 1})`,
        fix: "give every node its own hostname",
      });
    } else seenHost.set(hostname, i);
    const ip = ipv4(ipAddress);
    if (ip === undefined) {
      problems.push({
        line: at("ipAddress"),
        message: `node '${hostname}' has ${ipAddress ? `an invalid ipAddress '${ipAddress}'` : "no ipAddress"}`,
        fix: "give its DHCP-reserved IPv4 address",
      });
    } else {
      if (seenIp.has(ipAddress)) {
        problems.push({
          line: at("ipAddress"),
          message: `address ${ipAddress} is used by two nodes`,
          fix: "give every node its own DHCP reservation",
        });
      }
      seenIp.set(ipAddress, i);
      if (env2 && !inSubnet(ip, env2)) {
        problems.push({
          line: at("ipAddress"),
          message: `node '${hostname}' address ${ipAddress} is outside LAN_SUBNET ${env.LAN_SUBNET}`,
          fix: "fix the address or LAN_SUBNET",
        });
      }
    }
    if (!n.installDisk && !n.installDiskSelector) {
      problems.push({
        line: lineOf(["nodes", i]),
        message: `node '${hostname}' has neither installDisk nor installDiskSelector`,
        fix: "add installDiskSelector (e.g. type: nvme) to the node",
      });
    }
    const interfaces = (pick("networkInterfaces") ?? []) as Json[];
    const vip = interfaces.map((x) => str((x.vip as Json | undefined)?.ip)).find(Boolean);
    const spec = (pick("machineSpec") ?? {}) as Json;
    nodes.push({
      hostname,
      ipAddress,
      controlPlane: cp,
      schematic: pick("schematic") as Schematic | undefined,
      secureboot: spec.secureboot === true,
      talosImageURL: pick("talosImageURL") as string | undefined,
      vip: vip || undefined,
    });
  });

  const controlPlanes = nodes.filter((n) => n.controlPlane);
  if (rawNodes.length && controlPlanes.length === 0) {
    problems.push({
      line: lineOf(["nodes"]),
      message: "no node is a control plane",
      fix: "set controlPlane: true on one or three nodes",
    });
  } else if (controlPlanes.length % 2 === 0 && controlPlanes.length > 0) {
    problems.push({
      line: lineOf(["nodes"]),
      message: `${controlPlanes.length} control planes: etcd needs an odd number to keep a majority`,
      fix: "use 1, 3 or 5 control planes; extra machines can join as workers",
    });
  }
  const vips = [...new Set(controlPlanes.map((n) => n.vip).filter((v): v is string => Boolean(v)))];
  const endpoint = str(data.endpoint);
  if (vips.length === 0 && controlPlanes.length) {
    problems.push({
      line: lineOf(["controlPlane"]),
      message: "the control planes have no shared VIP",
      fix: "set networkInterfaces[].vip.ip on the control planes",
    });
  } else if (vips.length > 1) {
    problems.push({
      line: lineOf(["nodes"]),
      message: `control planes name different VIPs: ${vips.join(", ")}`,
      fix: "use one VIP for all control planes",
    });
  }
  const vip = vips[0];
  if (vip) {
    const vipIp = ipv4(vip);
    if (vipIp === undefined) {
      problems.push({
        message: `the VIP '${vip}' is not an IPv4 address`,
        fix: "set CLUSTER_VIP to a free address on the LAN",
      });
    } else {
      const owner = nodes.find((n) => n.ipAddress === vip);
      if (owner) {
        problems.push({
          message: `the VIP ${vip} is node '${owner.hostname}''s own address`,
          fix: "reserve a separate, unused address for the VIP (outside the DHCP pool)",
        });
      }
      if (env2 && !inSubnet(vipIp, env2)) {
        problems.push({
          message: `the VIP ${vip} is outside LAN_SUBNET ${env.LAN_SUBNET}: nodes could not announce it`,
          fix: "pick a VIP on the nodes' LAN",
        });
      }
    }
    const m = /^https:\/\/([^/:]+):(\d+)\/?$/.exec(endpoint);
    if (endpoint && (!m || m[1] !== vip)) {
      problems.push({
        line: lineOf(["endpoint"]),
        message: `endpoint ${endpoint} is not on the VIP ${vip}`,
        fix: `set endpoint: https://${vip}:6443 (every node's API, through the VIP)`,
      });
    }
  }
  return {
    config: { clusterName: str(data.clusterName), talosVersion, kubernetesVersion, endpoint, nodes },
    problems: problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
  };
}

/** All problems as one error naming the file (thrown before anything is generated). */
export function problemsError(file: string, problems: readonly Problem[]): InputError {
  const list = problems.map((p) => `  ${file}${p.line ? `:${p.line}` : ""}: ${p.message}\n    fix: ${p.fix}`).join(
    "\n",
  );
  return new InputError(`has ${problems.length} problem(s):\n${list}`, {
    file,
    hint: "nothing was generated; fix the file and run the task again",
  });
}
