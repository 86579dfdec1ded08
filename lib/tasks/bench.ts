/**
 * The `bench` task: start-up figures the design sets goals for, measured over repeated runs.
 * @module
 */

import { join } from "node:path";
import { cmd, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { HomelabError } from "../errors.ts";
import { envrcScript } from "../envrc.ts";
import { consoleUi, print } from "../ui.ts";

/** Median, 90th percentile and minimum of a set of durations (ms). */
function summarize(ms: readonly number[]): { median: number; p90: number; min: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p90: at(0.9), min: sorted[0] };
}

/** Runs `exe args` `runs` times through the command model and returns each run's wall time (ms). */
async function timeCommand(
  config: Config,
  runs: number,
  exe: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<number[]> {
  const runner = new Runner({ env: options.env ?? config.env });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const r = await runner.run(cmd(exe, args, { cwd: options.cwd, readOnly: true, timeout: 60_000 }), { check: false });
    times.push(performance.now() - start);
    if (r.code !== 0) throw new HomelabError(`${exe} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  }
  return times;
}

/** Starts and stops the local control plane `runs` times; returns each start's time to ready (ms). */
async function controlPlaneStarts(
  config: Config,
  runs: number,
  options: { controllers?: boolean; nodes?: string[] },
): Promise<number[]> {
  const [{ startControlPlane }, { Toolbox }] = await Promise.all([
    import("../kube/controlplane.ts"),
    import("../toolbox.ts"),
  ]);
  const runner = new Runner({ env: config.env, resolve: new Toolbox(config).resolve });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const cp = await startControlPlane(runner, options);
    times.push(performance.now() - start);
    await cp.stop();
  }
  return times;
}

/** The process IDs of every descendant of `pid` (Linux /proc). */
async function descendants(pid: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${e.name}/stat`).catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid) parent.set(Number(e.name), ppid);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

const names = new Map<number, string>();

/**
 * The name a process is reported under: its command name, or for Argo CD's multi-call binary the
 * component it runs (`ARGOCD_BINARY_NAME` in its environment: repo-server, application-controller).
 * Kept per process: a process that is ending no longer shows its environment.
 */
export async function programName(pid: number, comm: string): Promise<string> {
  const known = names.get(pid);
  if (known) return known;
  if (comm !== "argocd") return comm;
  const environ = await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => "");
  const name = /(?:^|\0)ARGOCD_BINARY_NAME=([^\0]+)/.exec(environ)?.[1];
  if (name) names.set(pid, name);
  return name ?? comm;
}

/** The name under which the children this process reaped count. */
const REAPED = "";

/**
 * CPU seconds used so far by each of the processes `pids` and the children it reaped (Linux /proc:
 * utime, stime, cutime, cstime at 100 ticks a second), summed by program. The children this process
 * reaped count under `REAPED`: the programs it stopped at the end, whose time is already counted
 * under their own names.
 */
export async function cpuByProgram(pids: readonly number[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const pid of [...pids, Deno.pid]) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14–17 of stat; f[0] is field 3
    const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
    const self = pid === Deno.pid;
    const name = self ? REAPED : await programName(pid, stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")));
    const ticks = self ? cutime + cstime : utime + stime + cutime + cstime;
    out.set(name, (out.get(name) ?? 0) + ticks / 100);
  }
  return out;
}

/**
 * The CPU used by the processes sampled: the largest total seen (the time of a process that ends
 * between two samples moves into its parent's, or is lost when nothing alive reaps it), and the
 * largest seen of each program's.
 */
class CpuPeaks {
  total = 0;
  readonly byName = new Map<string, number>();

  add(sample: ReadonlyMap<string, number>): void {
    this.total = Math.max(this.total, [...sample.values()].reduce((a, b) => a + b, 0));
    for (const [name, s] of sample) this.byName.set(name, Math.max(this.byName.get(name) ?? 0, s));
  }
}

/** Memory of one process: resident (RSS) and proportional (PSS: each shared page divided among its users). */
interface ProcessMemory {
  readonly name: string;
  readonly rss: number;
  readonly pss: number;
}

/** Memory (bytes) of each of the processes `pids` that still exists. */
async function memoryOf(pids: readonly number[]): Promise<ProcessMemory[]> {
  const out: ProcessMemory[] = [];
  for (const pid of pids) {
    const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
    const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
    if (!status) continue;
    out.push({
      name: await programName(pid, /^Name:\s+(\S+)/m.exec(status)?.[1] ?? String(pid)),
      rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) * 1024,
      pss: Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024,
    });
  }
  return out;
}

/** Peaks of memory samples: the sums of RSS and of PSS, and each program's own RSS. */
class MemoryPeaks {
  rss = 0;
  pss = 0;
  readonly byName = new Map<string, number>();

  add(sample: readonly ProcessMemory[]): void {
    this.rss = Math.max(this.rss, sample.reduce((n, p) => n + p.rss, 0));
    this.pss = Math.max(this.pss, sample.reduce((n, p) => n + p.pss, 0));
    const now = new Map<string, number>();
    for (const p of sample) now.set(p.name, (now.get(p.name) ?? 0) + p.rss);
    for (const [name, rss] of now) this.byName.set(name, Math.max(this.byName.get(name) ?? 0, rss));
  }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * The rehearsal of this repository (`deno task rehearse --env ENV`) once: the time from the control
 * plane being up to every Application Synced and Healthy, each wave's time, each phase, and the
 * peak resident memory of everything it started (sampled twice a second).
 */
async function rehearseBench(config: Config, env: "dev" | "prod"): Promise<void> {
  const { rehearse } = await import("../rehearse/run.ts");
  const { clock } = await import("../kube/applications.ts");
  const peaks = new MemoryPeaks();
  let sampling = true;
  const cpu = new CpuPeaks();
  const started = performance.now();
  const sampler = (async () => {
    while (sampling) {
      const pids = await descendants(Deno.pid);
      peaks.add(await memoryOf(pids));
      cpu.add(await cpuByProgram(pids));
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const lines: string[] = [];
  try {
    const r = await rehearse(config, { env, timeoutMs: 900_000 }, consoleUi({ write: (t) => lines.push(t) }));
    const p = r.phases;
    print(`rehearsal of this repository (--env ${env}), Argo CD v${r.argocd.rehearsal}:`);
    print(
      `  render ${(p.render / 1000).toFixed(1)} s, control plane ${(p.controlPlane / 1000).toFixed(1)} s, ` +
        `snapshot ${(p.snapshot / 1000).toFixed(1)} s, Argo CD started ${(p.argocd / 1000).toFixed(1)} s`,
    );
    const up = p.snapshot + p.argocd;
    print(
      r.converged
        ? `  converged ${((up + r.convergedMs!) / 1000).toFixed(1)} s after the control plane was up (goal ≤ 60 s)` +
          `${r.ok ? ", and stayed after a hard refresh" : ", but not after a hard refresh"}`
        : `  did not converge in 15 minutes: ${
          r.apps.filter((a) => a.convergedMs === undefined).map((a) => a.name).join(", ")
        }`,
    );
    for (const w of r.waves) {
      print(
        `  wave ${String(w.wave).padStart(4)}: ${w.doneMs !== undefined ? clock(w.doneMs) : "—"}  ${w.apps.join(", ")}`,
      );
    }
  } finally {
    sampling = false;
    await sampler;
  }
  const wall = (performance.now() - started) / 1000;
  print(
    `  CPU used by everything it started: ${cpu.total.toFixed(0)} s in ${wall.toFixed(0)} s, ` +
      `${(cpu.total / wall).toFixed(2)} of ${navigator.hardwareConcurrency} cores busy on average`,
  );
  const busiest = [...cpu.byName].filter(([name, s]) => name !== REAPED && s >= 0.5);
  busiest.sort((a, b) => b[1] - a[1]);
  print(
    `    by program (a program's children count with it once they end): ` +
      busiest.slice(0, 8).map(([name, s]) => `${name} ${s.toFixed(0)} s`).join(", "),
  );
  print(`  peak resident memory of everything it started: ${gib(peaks.rss)} (goal ≤ 3 GiB; sum of RSS)`);
  print(`    proportional (shared pages counted once): ${gib(peaks.pss)} (sum of PSS)`);
  const top = [...peaks.byName].sort((a, b) => b[1] - a[1]).slice(0, 6);
  print(`    largest peaks: ${top.map(([name, rss]) => `${name} ${gib(rss)}`).join(", ")}`);
  print("");
}

/** How `deno task doctor --help` compares with an empty task: the start-up ratio and its goal. */
const STARTUP_GOAL = 1.25;

/** The start-up ratio of a task against the empty task, from their medians. */
function startupRatio(taskMs: number, emptyMs: number): number {
  return taskMs / emptyMs;
}

/** One benchmark: what it measures, its goal, and how to run it once. */
interface Bench {
  readonly name: string;
  readonly goal?: string;
  readonly runs: number;
  readonly measure: (runs: number) => Promise<number[]>;
}

/** Runs the benchmarks and prints a table; returns the exit code. */
export async function benchCommand(
  config: Config,
  deno: string,
  runs?: number,
  options: { renderApps?: number; only?: "render" | "rehearse"; rehearse?: "dev" | "prod" } = {},
): Promise<number> {
  if (options.rehearse) {
    await rehearseBench(config, options.rehearse);
    if (options.only === "rehearse") return 0;
  }
  if (options.renderApps !== 0) {
    const { renderBench } = await import("../render/bench.ts");
    const quiet = consoleUi({ write: () => {} });
    const n = options.renderApps ?? 20;
    print(`render benchmark: ${n} synthetic apps, one chart each from a chart repository on 127.0.0.1`);
    for (const f of await renderBench(config, n, quiet)) {
      print(`  ${f.name.padEnd(56)}${f.ms.toFixed(0).padStart(7)} ms  ${f.note ?? ""}`);
    }
    print("");
    if (options.only === "render") return 0;
  }
  const cwd = config.repoRoot;
  const logDir = await Deno.makeTempDir({ prefix: "homelab-bench-" });
  const stubEnv = { ...config.env, STUB_LOG: join(logDir, "log") };
  const empty = join(logDir, "empty.ts");
  await Deno.writeTextFile(empty, "");
  const benches: Bench[] = [
    {
      name: ".envrc load without Nix (bash, direnv stdlib stubbed)",
      goal: "< 30 ms",
      runs: runs ?? 50,
      measure: (n) => timeCommand(config, n, "bash", ["-c", envrcScript()], { cwd, env: stubEnv }),
    },
    {
      name: "bash start-up alone (the floor of the line above)",
      runs: runs ?? 50,
      measure: (n) => timeCommand(config, n, "bash", ["-c", "true"], { cwd }),
    },
    {
      name: "an empty task (deno task running an empty program)",
      runs: runs ?? 10,
      measure: (n) => timeCommand(config, n, deno, ["task", "-q", "--eval", `deno run -A ${empty}`], { cwd }),
    },
    {
      name: "deno task doctor --help",
      goal: `< ${STARTUP_GOAL}× the empty task`,
      runs: runs ?? 10,
      measure: (n) => timeCommand(config, n, deno, ["task", "-q", "doctor", "--help"], { cwd }),
    },
    {
      name: "deno task secrets check --no-decrypt (whole repository)",
      goal: "< 300 ms",
      runs: runs ?? 10,
      measure: (n) => timeCommand(config, n, deno, ["task", "-q", "secrets", "check", "--no-decrypt"], { cwd }),
    },
    {
      name: "deno task tools (all present: the no-op re-run)",
      runs: runs ?? 5,
      measure: (n) => timeCommand(config, n, deno, ["task", "-q", "tools"], { cwd }),
    },
    {
      name: "local control plane ready: etcd + kube-apiserver",
      goal: "≈ 2500 ms",
      runs: runs ?? 3,
      measure: (n) => controlPlaneStarts(config, n, {}),
    },
    {
      name: "… + controller-manager, scheduler, a kwok node Ready",
      runs: runs ?? 3,
      measure: (n) => controlPlaneStarts(config, n, { controllers: true, nodes: ["bench-node"] }),
    },
  ];
  print("benchmark".padEnd(58) + "runs  median     p90     min  goal");
  const medians = new Map<string, number>();
  try {
    for (const b of benches) {
      const s = summarize(await b.measure(b.runs));
      medians.set(b.name, s.median);
      const f = (ms: number) => `${ms.toFixed(1)}`.padStart(7);
      print(
        `${b.name.padEnd(58)}${String(b.runs).padStart(4)} ${f(s.median)} ${f(s.p90)} ${f(s.min)}  ${b.goal ?? ""}`,
      );
    }
  } finally {
    await Deno.remove(logDir, { recursive: true });
  }
  print("(milliseconds)");
  const ratio = startupRatio(medians.get("deno task doctor --help")!, medians.get(benches[2].name)!);
  print(
    `start-up ratio: deno task doctor --help / empty task = ${ratio.toFixed(2)}× (goal ≤ ${STARTUP_GOAL}×)`,
  );
  return 0;
}
