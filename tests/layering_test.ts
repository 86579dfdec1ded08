/**
 * The layers, as the next reader expects them: task entry files parse flags; `lib/tasks/` turns a
 * result into output and an exit code (and `lib/cli.ts` ends the process); only `lib/cmd.ts`
 * starts processes; the talos code does not reach into the secrets modules' internals.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { REPO } from "./helpers.ts";

/** A source's code: its text without comment lines (examples in doc comments print freely). */
function code(text: string): string {
  return text.split("\n").filter((l) => !/^\s*(\*|\/\/|\/\*\*)/.test(l)).join("\n");
}

async function sources(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const path = join(d, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        out.set(relative(REPO, path), code(await Deno.readTextFile(path)));
      }
    }
  };
  await walk(join(REPO, dir));
  return out;
}

const lib = await sources("lib");
const tasks = await sources("tasks");

/** Where printing for people and scripts may happen: the task layer, the CLI, the terminal UI. */
const PRINTERS = [/^lib\/tasks\//, /^lib\/cli\.ts$/, /^lib\/ui\.ts$/, /^lib\/context\.ts$/];

Deno.test("output and exit codes have one home: lib/tasks/ (and lib/cli.ts); entry files and the rest of lib/ print nothing", () => {
  const printing = [...lib, ...tasks]
    .filter(([file, text]) => /\bconsole\.(log|error|warn|info)\(/.test(text) && !PRINTERS.some((p) => p.test(file)))
    .map(([file]) => file);
  assert.deepEqual(printing, []);
  const settingExitCode = [...lib, ...tasks].filter(([, text]) => /Deno\.exitCode\s*=/.test(text)).map(([f]) => f);
  assert.deepEqual(settingExitCode, [], "actions return their exit code instead");
});

Deno.test("only lib/cmd.ts starts processes", () => {
  const spawning = [...lib, ...tasks]
    .filter(([file, text]) => /new Deno\.Command\(|from "dax"|node:child_process/.test(text) && file !== "lib/cmd.ts")
    .map(([file]) => file);
  assert.deepEqual(spawning, []);
});

Deno.test("the talos code uses the secrets modules' public API only, and owns its bundle", () => {
  for (const [file, text] of lib) {
    if (!file.startsWith("lib/talos/")) continue;
    for (const m of text.matchAll(/from "\.\.\/secrets\/([^"]+)"/g)) {
      assert.ok(
        ["lifecycle.ts", "context.ts"].includes(m[1]),
        `${file} imports secrets/${m[1]}`,
      );
    }
    assert.doesNotMatch(text, /SecretsContext/, `${file} names the secrets context; it takes the RepoContext`);
  }
  const bundle = [...lib].filter(([, t]) => /export async function writeTalosBundle/.test(t)).map(([f]) => f);
  assert.deepEqual(bundle, ["lib/talos/bundle.ts"]);
});
