/**
 * The GitHub workflows pass actionlint, with shellcheck on their run scripts when shellcheck is on
 * PATH (the CI runner has it; `nix develop` provides it). Without shellcheck, actionlint still
 * checks everything else and the test's name says the scripts went unchecked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cmd, Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { findOnPath } from "../lib/path.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { REPO, withTempDir } from "./helpers.ts";

const config = loadConfig();
const toolbox = new Toolbox(config);
const runner = new Runner({ env: config.env, resolve: toolbox.resolve, defaultTimeout: 60_000 });
const shellcheck = await findOnPath("shellcheck", config.env.PATH ?? "");

/** actionlint's findings for the workflow files under `root`/.github/workflows, one per line. */
async function actionlint(root: string): Promise<string[]> {
  const dir = join(root, ".github/workflows");
  const files = [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && /\.ya?ml$/.test(e.name))
    .map((e) => join(".github/workflows", e.name))
    .sort();
  const r = await runner.run(
    cmd("actionlint", ["-no-color", "-oneline", `-shellcheck=${shellcheck ?? ""}`, ...files], {
      cwd: root,
      readOnly: true,
    }),
    { check: false },
  );
  // 0: no findings, 1: findings; anything else is actionlint failing to run.
  assert.ok(r.code === 0 || r.code === 1, `actionlint failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

Deno.test(
  `the workflows pass actionlint ${
    shellcheck ? `with shellcheck (${shellcheck})` : "(shellcheck is not on PATH: their run scripts went unchecked)"
  }`,
  async () => {
    const findings = await actionlint(REPO);
    assert.deepEqual(findings, [], `actionlint on .github/workflows:\n${findings.join("\n")}`);
  },
);

Deno.test("actionlint's findings fail the check, naming file and line", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, ".github/workflows"), { recursive: true });
    await Deno.writeTextFile(
      join(dir, ".github/workflows/bad.yaml"),
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nosuchjob\n    steps:\n      - run: true\n",
    );
    const findings = await actionlint(dir);
    assert.equal(findings.length, 1, findings.join("\n"));
    assert.match(findings[0], /^\.github\/workflows\/bad\.yaml:3:\d+: .*nosuchjob/);
  });
});
