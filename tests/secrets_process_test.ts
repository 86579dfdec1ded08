/**
 * The secrets task as a process: interrupted while plaintext exists (edit, decrypt), and the
 * pre-commit hook refusing a plaintext secret. Runs a copy of the tooling inside a scratch
 * repository, with the real sops and age.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { init, newSecret } from "../lib/secrets/lifecycle.ts";
import { denoDir, fakeTool, REPO, withTempDir } from "./helpers.ts";
import { git, owner, realToolsPath, scratchRepo } from "./secrets_helpers.ts";

async function copyTooling(root: string): Promise<void> {
  for (const entry of ["lib", "tasks", "scripts"]) {
    const out = await new Deno.Command("cp", { args: ["-R", join(REPO, entry), join(root, entry)] }).output();
    assert.ok(out.success);
  }
  for (const file of ["deno.json", "deno.lock", ".deno-version"]) {
    await Deno.copyFile(join(REPO, file), join(root, file));
  }
}

/** A scratch repository with the tooling, initialised by alice, holding system/demo/db.sops.yaml. */
async function setUp(dir: string) {
  const root = await scratchRepo(dir);
  await copyTooling(root);
  const alice = await owner(dir, "alice", root);
  await init(alice.ctx);
  await newSecret(alice.ctx, "system/demo", "db");
  git(root, "add", "-A");
  git(root, "commit", "-q", "--no-verify", "-m", "secrets");
  const tmp = join(dir, "tmp");
  await Deno.mkdir(tmp);
  const env = {
    HOME: join(dir, "alice"),
    PATH: `${dirname(Deno.execPath())}:${await realToolsPath()}`,
    DENO_DIR: denoDir(),
    TMPDIR: tmp,
    NO_COLOR: "1",
  };
  return { root, tmp, env };
}

async function waitFor(path: string, seconds = 30): Promise<string> {
  for (let i = 0; i < seconds * 10; i++) {
    try {
      const text = (await Deno.readTextFile(path)).trim();
      if (text) return text;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} did not appear`);
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names;
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

Deno.test("Ctrl-C during `secrets edit` removes the plaintext copy and leaves the repository as it was", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const marker = join(dir, "editor");
    const editor = await fakeTool(
      join(dir, "bin"),
      "editor",
      `echo "$1" > "${marker}.path"; echo $$ > "${marker}.pid"; exec sleep 60`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "edit", "system/demo/db.sops.yaml"],
      cwd: root,
      env: { ...env, EDITOR: editor },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let editorPid = 0;
    try {
      const plaintext = await waitFor(`${marker}.path`);
      editorPid = Number(await waitFor(`${marker}.pid`));
      assert.ok(plaintext.startsWith(`${tmp}/`), `sops's copy ${plaintext} is not in the private temp dir`);
      assert.match(await Deno.readTextFile(plaintext), /REPLACE-ME/, "the editor sees plaintext");
      assert.equal((await Deno.stat(plaintext)).mode! & 0o077, 0, "plaintext readable by others");
      const ours = join(tmp, (await entries(tmp))[0]);
      assert.equal((await Deno.stat(ours)).mode! & 0o777, 0o700);

      child.kill("SIGINT");
      const status = await child.status;
      assert.equal(status.code, 130);
      await assert.rejects(Deno.stat(plaintext), Deno.errors.NotFound);
      assert.deepEqual(await entries(tmp), []);
      assert.equal(git(root, "status", "--porcelain"), "");
    } finally {
      kill(editorPid);
      try {
        child.kill("SIGKILL");
      } catch {
        // ended
      }
      await child.output().catch(() => {});
    }
  });
});

Deno.test("`secrets decrypt` writes plaintext to standard output only; interrupted, it leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const run = (extraEnv: Record<string, string> = {}) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(root, "tasks", "secrets.ts"), "decrypt", "system/demo/db.sops.yaml"],
        cwd: root,
        env: { ...env, ...extraEnv },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      });
    const out = await run().output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(new TextDecoder().decode(out.stdout), /value: REPLACE-ME/);
    assert.deepEqual(await entries(tmp), []);
    assert.equal(git(root, "status", "--porcelain"), "");

    // A sops that hangs mid-way: interrupt the task while it waits.
    const realSops = (await realToolsPath(["sops"])).split(":")[0];
    const marker = join(dir, "sops.pid");
    const slow = join(dir, "slow");
    await fakeTool(slow, "sops", `echo $$ > "${marker}"; sleep 60; exec "${realSops}/sops" "$@"`);
    const child = run({ PATH: `${slow}:${env.PATH}` }).spawn();
    const pid = Number(await waitFor(marker));
    try {
      child.kill("SIGINT");
      const status = await child.status;
      assert.ok(status.code === 130 || status.signal === "SIGINT", `ended with ${JSON.stringify(status)}`);
      assert.deepEqual(await entries(tmp), []);
      assert.equal(git(root, "status", "--porcelain"), "");
    } finally {
      kill(pid);
      await child.output().catch(() => {});
    }
  });
});

Deno.test("the pre-commit hook refuses a staged plaintext Secret and lets a clean commit through", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    const commit = (message: string) =>
      new Deno.Command("git", {
        args: ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message],
        cwd: root,
        env,
        clearEnv: true,
      }).output();

    await Deno.writeTextFile(
      join(root, "system/demo/leak.yaml"),
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData:\n  password: hunter2\n",
    );
    git(root, "add", "system/demo/leak.yaml");
    const refused = await commit("leak");
    const stderr = new TextDecoder().decode(refused.stderr);
    assert.notEqual(refused.code, 0);
    assert.match(stderr, /system\/demo\/leak\.yaml:5 holds a plaintext Secret 'oops'/);
    assert.ok(!stderr.includes("hunter2"));

    // Cleaned in the work tree but not staged: the commit would still carry the plaintext.
    await Deno.writeTextFile(
      join(root, "system/demo/leak.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oops\ndata:\n  note: fine\n",
    );
    const stillStaged = await commit("leak, cleaned in the work tree only");
    assert.notEqual(stillStaged.code, 0, "the hook judged the work tree instead of the staged content");
    assert.match(new TextDecoder().decode(stillStaged.stderr), /leak\.yaml:5 holds a plaintext Secret 'oops'/);

    git(root, "rm", "-q", "--cached", "-f", "system/demo/leak.yaml");
    await Deno.writeTextFile(join(root, "system/demo/README.md"), "# demo\n");
    git(root, "add", "system/demo/README.md");
    const ok = await commit("docs");
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  });
});
