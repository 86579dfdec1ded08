/**
 * The local control plane for tests: a real etcd and kube-apiserver (and, when asked, the
 * controller-manager, scheduler and kwok nodes) on 127.0.0.1, started once per test file.
 * @module
 */

import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "../lib/kube/controlplane.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { patience } from "./helpers.ts";

/** A runner that finds the pinned tools the way the tasks do (PATH, then the user cache). */
export function toolRunner(): Runner {
  const config = loadConfig();
  return new Runner({ env: config.env, resolve: new Toolbox(config).resolve, defaultTimeout: patience(120_000) });
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
