/**
 * The `test` task: make sure the pinned tools are there, then fmt check, lint, type check and
 * `deno test`, and end with one line of counts.
 * @module
 */

import { join } from "node:path";
import { privateTempDir } from "../cleanup.ts";
import { cmd, type Command, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { print, type Ui } from "../ui.ts";
import { toolsCommand } from "./tools.ts";

/** Counts of a JUnit report: test cases and those that failed. */
export function countJunit(xml: string): { passed: number; failed: number } {
  const cases = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  const failed = cases.filter((c) => /<(failure|error)\b/.test(c)).length;
  const skipped = cases.filter((c) => /<skipped\b/.test(c)).length;
  return { passed: cases.length - failed - skipped, failed };
}

export interface TestOptions {
  /** Extra arguments for `deno test` (a filter, files). */
  readonly testArgs: readonly string[];
  /** Skip building missing tools (tests that need one then fail, naming it). */
  readonly noTools?: boolean;
}

/** Runs the suite; returns the exit code. */
export async function testCommand(config: Config, deno: string, options: TestOptions, ui: Ui): Promise<number> {
  if (!options.noTools) await toolsCommand(config, {}, ui);

  const runner = new Runner({ env: config.env });
  const dir = await privateTempDir("homelab-test-");
  const junit = join(dir, "junit.xml");
  const checks: [string, Command][] = [
    ["format", cmd(deno, ["fmt", "--check"], { cwd: config.repoRoot, inherit: true })],
    ["lint", cmd(deno, ["lint"], { cwd: config.repoRoot, inherit: true })],
    ["type check", cmd(deno, ["check", "lib", "tasks", "tests"], { cwd: config.repoRoot, inherit: true })],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, c] of checks) {
    ui.info(`test: ${name}`);
    const r = await runner.run(c, { check: false });
    if (r.code === 0) passed++;
    else {
      failed++;
      ui.info(`test: ${name} failed`);
    }
  }
  ui.info("test: deno test");
  const r = await runner.run(
    cmd(deno, ["test", "-A", "--parallel", `--junit-path=${junit}`, ...options.testArgs], {
      cwd: config.repoRoot,
      inherit: true,
    }),
    { check: false },
  );
  // No report (deno test could not start) or a failure the report does not show: count one.
  const counts = await Deno.readTextFile(junit).then(countJunit, () => ({ passed: 0, failed: 0 }));
  if (r.code !== 0 && counts.failed === 0) counts.failed = 1;
  passed += counts.passed;
  failed += counts.failed;
  print(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
