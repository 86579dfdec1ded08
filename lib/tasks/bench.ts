/**
 * The `bench` task: start-up figures the design sets goals for, measured over repeated runs.
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config.ts";
import { envrcScript } from "../envrc.ts";

/** Median, 90th percentile and minimum of a set of durations (ms). */
export function summarize(ms: readonly number[]): { median: number; p90: number; min: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p90: at(0.9), min: sorted[0] };
}

async function timeCommand(
  runs: number,
  exe: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const out = await new Deno.Command(exe, { args, ...options, stdout: "null", stderr: "piped" }).output();
    times.push(performance.now() - start);
    if (!out.success) throw new Error(`${exe} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return times;
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
    const quiet = { info: () => {}, warn: () => {}, progress: <T>(_l: string, fn: () => Promise<T>) => fn() };
    const n = options.renderApps ?? 20;
    console.log(`render benchmark: ${n} synthetic apps, one chart each from a chart repository on 127.0.0.1`);
    for (const f of await renderBench(config, n, quiet)) {
      console.log(`  ${f.name.padEnd(56)}${f.ms.toFixed(0).padStart(7)} ms  ${f.note ?? ""}`);
    }
    console.log("");
    if (options.only === "render") return 0;
  }
  const cwd = config.repoRoot;
  const logDir = await Deno.makeTempDir({ prefix: "homelab-bench-" });
  const stubEnv = { ...config.env, STUB_LOG: join(logDir, "log") };
  const benches: Bench[] = [
    {
      name: ".envrc load without Nix (bash, direnv stdlib stubbed)",
      goal: "< 30 ms",
      runs: runs ?? 50,
      measure: (n) => timeCommand(n, "bash", ["-c", envrcScript()], { cwd, env: stubEnv }),
    },
    {
      name: "bash start-up alone (the floor of the line above)",
      runs: runs ?? 50,
      measure: (n) => timeCommand(n, "bash", ["-c", "true"], { cwd }),
    },
    {
      name: "deno task doctor --help",
      runs: runs ?? 10,
      measure: (n) => timeCommand(n, deno, ["task", "-q", "doctor", "--help"], { cwd }),
    },
    {
      name: "deno task secrets check --no-decrypt (whole repository)",
      goal: "< 300 ms",
      runs: runs ?? 10,
      measure: (n) => timeCommand(n, deno, ["task", "-q", "secrets", "check", "--no-decrypt"], { cwd }),
    },
    {
      name: "deno task tools (all present: the no-op re-run)",
      runs: runs ?? 5,
      measure: (n) => timeCommand(n, deno, ["task", "-q", "tools"], { cwd }),
    },
  ];
  console.log("benchmark".padEnd(58) + "runs  median     p90     min  goal");
  try {
    for (const b of benches) {
      const s = summarize(await b.measure(b.runs));
      const f = (ms: number) => `${ms.toFixed(1)}`.padStart(7);
      console.log(
        `${b.name.padEnd(58)}${String(b.runs).padStart(4)} ${f(s.median)} ${f(s.p90)} ${f(s.min)}  ${b.goal ?? ""}`,
      );
    }
  } finally {
    await Deno.remove(logDir, { recursive: true });
  }
  console.log("(milliseconds)");
  return 0;
}
