/**
 * `secrets init --adopt` changes a clone all together or not at all: a tool failing half-way or a
 * Ctrl-C leaves the tree byte for byte as it was, and the `git add` line it prints names every
 * file that differs from HEAD because of adoption, also on a re-run. The task runs as a process
 * in a clone of alice's repository, as bob, with the real tools behind a sops that fails or stops
 * at its Nth encryption.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { init, newSecret, writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { initCommand } from "../lib/tasks/secrets.ts";
import { consoleUi } from "../lib/ui.ts";
import { denoDir, fakeTool, withTempDir } from "./helpers.ts";
import { copyTooling, git, owner, realToolsPath, scratchRepo } from "./secrets_helpers.ts";

/** alice's repository (three stack secrets, the Talos bundle, Argo CD's key) and bob's clone of it. */
async function setUp(dir: string) {
  const origin = await scratchRepo(dir);
  await copyTooling(origin);
  const alice = await owner(dir, "alice", origin);
  await init(alice.ctx);
  for (const name of ["db", "api", "s3"]) await newSecret(alice.ctx, "system/demo", name);
  await writeTalosBundle(alice.ctx);
  git(origin, "add", "-A");
  git(origin, "commit", "-q", "--no-verify", "-m", "secrets");
  const root = join(dir, "clone");
  git(dir, "clone", "-q", origin, root);
  const env = {
    HOME: join(dir, "bob"),
    PATH: `${dirname(Deno.execPath())}:${await realToolsPath()}`,
    DENO_DIR: denoDir(),
    TMPDIR: join(dir, "tmp"),
    NO_COLOR: "1",
  };
  await Deno.mkdir(env.TMPDIR);
  return { root, env };
}

/** Every file of the tree but .git, with its bytes. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const path = join(d, e.name);
      if (e.name === ".git") continue;
      if (e.isDirectory) await walk(path);
      else files.set(relative(root, path), await Deno.readTextFile(path));
    }
  };
  await walk(root);
  return files;
}

function assertSameTree(after: Map<string, string>, before: Map<string, string>): void {
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), "files added or removed");
  const changed = [...before].filter(([f, text]) => after.get(f) !== text).map(([f]) => f);
  assert.deepEqual(changed, [], "files changed");
}

/**
 * A sops in `dir` that runs the real one, except at its `n`th encryption: there it runs `then`
 * (shell) instead.
 */
async function sopsFailingAt(dir: string, n: number, then: string): Promise<string> {
  const real = (await realToolsPath(["sops"])).split(":")[0];
  const count = join(dir, "sops.count");
  await fakeTool(
    join(dir, "fake"),
    "sops",
    `case " $* " in *" encrypt "*)
  n=$(( $(cat "${count}" 2>/dev/null || echo 0) + 1 )); echo "$n" > "${count}"
  if [ "$n" = ${n} ]; then ${then}; fi;;
esac
exec "${real}/sops" "$@"`,
  );
  return join(dir, "fake");
}

function adopt(root: string, env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(root, "tasks", "secrets.ts"), "init", "--adopt", "--yes"],
    cwd: root,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("init --adopt with sops failing at its third file leaves the clone as it was", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    const before = await snapshot(root);
    const fake = await sopsFailingAt(dir, 3, `echo "sops: simulated failure" >&2; exit 1`);
    const out = await adopt(root, { ...env, PATH: `${fake}:${env.PATH}` }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /^error: sops failed with exit code 1: .*\n.*simulated failure/m);
    assert.equal(Number(await Deno.readTextFile(join(dir, "sops.count"))), 3, "sops failed half-way");
    assertSameTree(await snapshot(root), before);
    assert.equal(git(root, "status", "--porcelain", "--untracked-files=all"), "");
  });
});

Deno.test("init --adopt with a tool missing changes nothing: it is found missing before the first change", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    const before = await snapshot(root);
    // sops and age, but no talhelper, which a new Talos bundle needs.
    const tools = join(dir, "no-talhelper");
    for (const t of ["sops", "age", "age-keygen", "git"]) {
      await Deno.mkdir(tools, { recursive: true });
      await Deno.symlink(join((await realToolsPath([t])).split(":")[0], t), join(tools, t));
    }
    const out = await adopt(root, { ...env, PATH: `${dirname(Deno.execPath())}:${tools}:/usr/bin:/bin` }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /^error: talhelper/m);
    assertSameTree(await snapshot(root), before);
  });
});

Deno.test("Ctrl-C while init --adopt encrypts its third file leaves the clone as it was", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    const before = await snapshot(root);
    const fifo = join(dir, "hold");
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const marker = join(dir, "holding");
    // Stops at the third encryption until the fifo is opened for writing, which never happens.
    const fake = await sopsFailingAt(dir, 3, `echo $$ > "${marker}"; read -r _ < "${fifo}"`);
    const child = adopt(root, { ...env, PATH: `${fake}:${env.PATH}` }).spawn();
    try {
      for (let i = 0; i < 600 && !(await Deno.readTextFile(marker).catch(() => "")).trim(); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok((await Deno.readTextFile(marker)).trim(), "sops never reached its third encryption");
      child.kill("SIGINT");
      const out = await child.output();
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // ended
      }
      await child.output().catch(() => {});
    }
    assertSameTree(await snapshot(root), before);
    assert.deepEqual([...Deno.readDirSync(env.TMPDIR)], [], "scratch space left behind");
  });
});

Deno.test("init --adopt after an earlier partial adoption prints every file that differs from HEAD", async () => {
  await withTempDir(async (dir) => {
    const { root } = await setUp(dir);
    const bob = await owner(dir, "bob", root);
    const said: string[] = [];
    const ui = consoleUi({ write: (t) => said.push(t) });
    assert.equal(await initCommand({ ...bob.ctx, ui }, { adopt: true, yes: true }), 0);
    // What an adoption cut short by an older version left: .sops.yaml, Argo CD's key and db
    // re-created, the rest still alice's.
    git(root, "checkout", "--", "system/demo/api.sops.yaml", "system/demo/s3.sops.yaml", "talos/talsecret.sops.yaml");
    said.length = 0;
    assert.equal(await initCommand({ ...bob.ctx, ui }, { adopt: true, yes: true }), 0);
    const line = said.join("").split("\n").find((l) => l.includes("git add"));
    assert.ok(line, said.join(""));
    const named = line.replace(/.*git add /, "").replace(/ && git commit.*/, "").split(" ").sort();
    assert.deepEqual(named, [
      ".sops.yaml",
      "system/argocd/sops-age.sops.yaml",
      "system/demo/api.sops.yaml",
      "system/demo/db.sops.yaml",
      "system/demo/s3.sops.yaml",
      "talos/talsecret.sops.yaml",
    ]);
    const status = git(root, "status", "--porcelain").split("\n").filter(Boolean).map((l) => l.slice(3)).sort();
    assert.deepEqual(named, status, "the line names exactly what git sees changed");
  });
});
