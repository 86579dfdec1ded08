/**
 * The local control plane for tests: a real etcd and kube-apiserver (and, when asked, the
 * controller-manager, scheduler and kwok nodes) on 127.0.0.1, started once per test file.
 * @module
 */

import { join } from "node:path";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "../lib/kube/controlplane.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { denoDir, patience } from "./helpers.ts";

/** A runner that finds the pinned tools the way the tasks do (PATH, then the user cache). */
export function toolRunner(): Runner {
  const config = loadConfig();
  return new Runner({ env: config.env, resolve: new Toolbox(config).resolve, defaultTimeout: patience(120_000) });
}

/** The test CRD `widgets.example.org`: kind Widget, namespaced, one version v1 whose `spec` is `spec`. */
export function widgetCrd(spec: Record<string, unknown> = { type: "object" }): KubeObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.example.org" },
    spec: {
      group: "example.org",
      names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
      scope: "Namespaced",
      versions: [{
        name: "v1",
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: "object", properties: { spec } } },
      }],
    },
  };
}

/** The process IDs of `pid` and all its descendants (Linux /proc). */
export async function processTree(pid: number): Promise<number[]> {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const tasks = await Array.fromAsync(Deno.readDir(`/proc/${out[i]}/task`)).catch(() => []);
    for (const t of tasks) {
      const children = await Deno.readTextFile(`/proc/${out[i]}/task/${t.name}/children`).catch(() => "");
      out.push(...children.trim().split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return [...new Set(out)];
}

/** Whether a process is alive (and not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}

/** Waits (bounded) until none of `pids` is alive; returns those still alive at the end. */
export async function survivors(pids: readonly number[], withinMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + patience(withinMs);
  for (;;) {
    const left: number[] = [];
    for (const p of pids) if (await alive(p)) left.push(p);
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One IP socket a process holds, from /proc/<pid>/net/{tcp,tcp6,udp,udp6}. */
export interface SocketEntry {
  readonly proto: "tcp" | "tcp6" | "udp" | "udp6";
  readonly local: string;
  readonly remote: string;
  /** The kernel's state code: `0A` LISTEN, `01` ESTABLISHED, `02` SYN_SENT, `07` UDP unconnected … */
  readonly state: string;
}

/** Every IP socket `pids` hold (their file descriptors matched with the kernel's socket tables). */
export async function socketsOf(pids: readonly number[]): Promise<SocketEntry[]> {
  const found: SocketEntry[] = [];
  for (const pid of pids) {
    const inodes = new Set<string>();
    for (const fd of await Array.fromAsync(Deno.readDir(`/proc/${pid}/fd`)).catch(() => [])) {
      const target = await Deno.readLink(`/proc/${pid}/fd/${fd.name}`).catch(() => "");
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m) inodes.add(m[1]);
    }
    for (const proto of ["tcp", "tcp6", "udp", "udp6"] as const) {
      const lines = (await Deno.readTextFile(`/proc/${pid}/net/${proto}`).catch(() => "")).split("\n").slice(1);
      for (const line of lines) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !inodes.has(f[9])) continue;
        found.push({ proto, local: decodeAddress(f[1]), remote: decodeAddress(f[2]), state: f[3] });
      }
    }
  }
  return found;
}

/** `0100007F:1F90` → `127.0.0.1:8080`; `…000001000000:01BB` (tcp6, 32 hex digits) → `[::1]:443`. */
export function decodeAddress(hex: string): string {
  const [addr, port] = hex.split(":");
  const p = parseInt(port, 16);
  // The kernel prints each 32-bit word in host (little-endian) byte order.
  const bytes = addr.match(/.{8}/g)!.flatMap((w) => w.match(/../g)!.reverse()).map((x) => parseInt(x, 16));
  if (bytes.length === 4) return `${bytes.join(".")}:${p}`;
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) {
    return `[::ffff:${bytes.slice(12).join(".")}]:${p}`;
  }
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `[${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}]:${p}`;
}

/** Whether an address (as {@link decodeAddress} prints it) is loopback or unspecified (no peer). */
export function onThisMachine(address: string): boolean {
  const host = address.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return /^127\./.test(host) || /^::ffff:127\./.test(host) || host === "::1" || host === "0.0.0.0" ||
    host === "::" || host === "::ffff:0.0.0.0";
}

/** Starts a control plane, runs `fn`, and stops it however `fn` ends. */
export async function withControlPlane<T>(
  options: ControlPlaneOptions,
  fn: (cp: ControlPlane) => Promise<T>,
): Promise<T> {
  const cp = await startControlPlane(toolRunner(), { timeout: patience(60_000), ...options });
  try {
    return await fn(cp);
  } finally {
    await cp.stop();
  }
}
export const REPO_PATH = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Runs tests/fixtures/controlplane/hold.ts (a task holding a control plane, with `env` added to
 * this process's environment) and returns the child with what it printed once the control plane
 * was up: its processes and its directory.
 */
export async function hold(
  env: Record<string, string> = {},
): Promise<{ child: Deno.ChildProcess; info: { pids: number[]; dir: string } }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_PATH, "tests/fixtures/controlplane/hold.ts")],
    env: { DENO_DIR: denoDir(), NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  if (!text.includes("\n")) throw new Error("hold.ts ended before it printed its processes");
  return { child, info: JSON.parse(text) };
}
