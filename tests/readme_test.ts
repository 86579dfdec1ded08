/**
 * The READMEs as a new owner follows them: the first two commands exist and start from nothing,
 * CI runs exactly them, every task and subcommand the READMEs name exists, every component is
 * listed, and raw talosctl/kubectl lines do not depend on direnv.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { binariesOf, TOOLS } from "../lib/tools.ts";
import { fakeTool, REPO, SYSTEM_PATH, withTempDir } from "./helpers.ts";

const readme = await Deno.readTextFile(join(REPO, "README.md"));
const talosReadme = await Deno.readTextFile(join(REPO, "talos", "README.md"));
const tasks = Object.keys((JSON.parse(await Deno.readTextFile(join(REPO, "deno.json"))) as { tasks: object }).tasks);

/** The README's first ```sh block: the commands a newcomer copies. */
function firstCommands(text: string): string[] {
  const block = /^```sh\n([\s\S]*?)^```$/m.exec(text)?.[1] ?? "";
  return block.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter(Boolean);
}

Deno.test("the README starts with two commands through ./deno: a task, then the test suite", () => {
  const lines = firstCommands(readme);
  assert.equal(lines.length, 2, lines.join("\n"));
  for (const line of lines) {
    const task = /^\.\/deno task (\S+)$/.exec(line)?.[1];
    assert.ok(task && tasks.includes(task), `${line}: not \`./deno task TASK\` with a task of deno.json`);
  }
  assert.equal(lines[0], "./deno task dev", "the main job comes first");
  assert.equal(lines[1], "./deno task test");
});

Deno.test(".ci/run runs the README's first sh block literally, in a clean clone", async () => {
  const ci = await Deno.readTextFile(join(REPO, ".ci", "run"));
  assert.match(ci, /README\.md/);
  assert.match(ci, /git clone -q "\$root"/);
  // The extraction .ci/run uses gives the same two lines.
  const awk = /awk '([^']+)'/.exec(ci)?.[1];
  assert.ok(awk, "no awk program in .ci/run");
  const out = new Deno.Command("awk", { args: [awk, join(REPO, "README.md")] }).outputSync();
  const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assert.deepEqual(lines.map((l) => l.replace(/#.*$/, "").trim()), firstCommands(readme));
});

const pinned = (await Deno.readTextFile(join(REPO, ".deno-version"))).trim();

async function launcher(env: Record<string, string>): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(join(REPO, "deno"), { args: ["--version"], env, clearEnv: true, cwd: REPO })
    .output();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

Deno.test("./deno runs the pinned Deno without one on PATH, and skips a deno of another version", async () => {
  await withTempDir(async (dir) => {
    const home = Deno.env.get("HOME")!;
    const cache = Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache");
    const bin = join(dir, "bin");
    await fakeTool(bin, "deno", `echo "deno 1.0.0 (a stranger)"`);
    // The pinned Deno is in the user cache (scripts/get-deno put it there); npm is not needed again.
    for (const path of [SYSTEM_PATH, `${bin}:${SYSTEM_PATH}`]) {
      const r = await launcher({ HOME: home, XDG_CACHE_HOME: cache, PATH: path });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^deno ${pinned.replaceAll(".", "\\.")} `), r.out);
    }
  });
});

Deno.test("./deno falls back to the flake's dev shell when there is neither npm nor a cached Deno", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "nix", `echo "nix $*"`);
    // No npm and no deno here: only what the launcher itself uses, and the fake nix.
    for (const tool of ["bash", "tr", "head", "cut", "dirname"]) {
      const path = new TextDecoder().decode(
        new Deno.Command("bash", { args: ["-c", `command -v ${tool}`], env: { PATH: SYSTEM_PATH } }).outputSync()
          .stdout,
      ).trim();
      await Deno.symlink(path, join(bin, tool));
    }
    const path = bin;
    const r = await launcher({ HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "cache"), PATH: path });
    assert.equal(r.code, 0, r.out);
    assert.equal(
      r.out.trim(),
      `nix --extra-experimental-features nix-command flakes develop ${REPO} --command deno --version`,
    );
  });
});

Deno.test("every task of deno.json is in the README's task table, and every task the READMEs name exists", async () => {
  const table = readme.slice(readme.indexOf("## Tasks"), readme.indexOf("## Secrets"));
  for (const t of tasks) assert.match(table, new RegExp(`\`deno task ${t}\\b`), `the task table omits ${t}`);
  for (const [file, text] of [["README.md", readme], ["talos/README.md", talosReadme]]) {
    for (const m of text.matchAll(/deno task ([a-z][-a-z0-9]*)(?: ([a-z][-a-z0-9]*))?/g)) {
      const [, task, sub] = m;
      assert.ok(tasks.includes(task), `${file}: \`deno task ${task}\` does not exist`);
      if (sub && ["secrets", "talos", "new", "dev"].includes(task)) {
        const source = await Deno.readTextFile(join(REPO, "tasks", `${task}.ts`));
        assert.ok(
          source.includes(`name: "${sub}"`) || source.includes(`.command("${sub}")`),
          `${file}: \`deno task ${task} ${sub}\` does not exist`,
        );
      }
    }
  }
});

Deno.test("the README lists every component of system/ and platform/", async () => {
  const stacks = readme.split("\n").slice(readme.split("\n").findIndex((l) => l.startsWith("- **Stacks**"))).slice(0, 3)
    .join(" ");
  for (const stack of ["system", "platform"]) {
    for await (const e of Deno.readDir(join(REPO, stack))) {
      if (e.isDirectory) {
        assert.match(stacks, new RegExp(`\\b${e.name}\\b`), `the Stacks line omits ${stack}/${e.name}`);
      }
    }
  }
});

Deno.test("talos/README.md: raw talosctl and kubectl lines name the repository's configs; adopt skips gensecret", () => {
  for (const m of talosReadme.matchAll(/`(talosctl|kubectl) [^`]*`|^.*\| (kubectl) .*$/gm)) {
    const line = m[0];
    if (line.startsWith("`talosctl")) assert.match(line, /--talosconfig talos\/clusterconfig\/talosconfig/, line);
    else assert.match(line, /--kubeconfig \.kube\/config/, line);
  }
  const install = talosReadme.slice(talosReadme.indexOf("## 4."), talosReadme.indexOf("## 5."));
  assert.match(install, /--adopt[\s\S]*skip `talos gensecret`/);
  assert.doesNotMatch(install, /bootstrap of the\s+stacks/);
});

Deno.test("the README's tool table is the manifest: every tool with its binaries, and whether `tools` builds it", () => {
  const section = readme.slice(readme.indexOf("## The pinned tools"), readme.indexOf("## Layout"));
  const rows = section.split("\n").filter((l) => /^\| [a-z]/.test(l) && !l.startsWith("| tool "))
    .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
  // The versions are not repeated there: lib/tools.ts is their one place (Renovate moves them).
  const expected = TOOLS.map((t) => [binariesOf(t).join(", "), t.build.kind !== "unavailable"]);
  const actual = rows.map(([tools, built]) => [
    // `jsonnet (go-jsonnet)`: a note in parentheses after the names.
    tools.replace(/ \(.*\)$/, ""),
    /^yes\b/.test(built),
  ]);
  const key = (r: (string | boolean)[]) => String(r[0]);
  assert.deepEqual(
    [...actual].sort((a, b) => key(a).localeCompare(key(b))),
    [...expected].sort((a, b) => key(a).localeCompare(key(b))),
    'README.md\'s table under "The pinned tools" differs from lib/tools.ts: one row per tool (its binaries, ' +
      "`yes` when `deno task tools` builds it)",
  );
  assert.doesNotMatch(section, /\bv?\d+\.\d+\.\d+\b/, "the section repeats a version that lib/tools.ts pins");
});
