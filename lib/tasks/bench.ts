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
  options: { renderApps?: number; only?: "render" } = {},
): Promise<number> {
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
