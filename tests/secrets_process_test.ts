/**
 * The secrets task as a process: interrupted while plaintext exists (edit, decrypt), and the
 * pre-commit hook refusing a plaintext secret. Runs a copy of the tooling inside a scratch
 * repository, with the real sops and age.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { fakeTool, REPO, withTempDir } from "./helpers.ts";
import { git, owner, realToolsPath, taskRepo } from "./secrets_helpers.ts";

/** The scratch repository of {@link taskRepo}, its tasks' temporary folders in `<dir>/tmp`. */
async function setUp(dir: string) {
  const { root, env } = await taskRepo(dir);
  const tmp = join(dir, "tmp");
  await Deno.mkdir(tmp);
  return { root, tmp, env: { ...env, TMPDIR: tmp } };
}

/** `secrets edit system/demo/db.sops.yaml` as a process of its own, with `env` only. */
function spawnEdit(root: string, env: Record<string, string>, output: "piped" | "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(root, "tasks", "secrets.ts"), "edit", "system/demo/db.sops.yaml"],
    cwd: root,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

/** Ends a task's process if it still runs, and waits for it. */
async function end(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // ended
  }
  await child.output().catch(() => {});
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

/** Whether a process still runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/** A wrapper around the real sops that records its pid in `marker`, waits `delay` seconds, then runs it. */
async function sopsWrapper(dir: string, marker: string, delay = 0): Promise<string> {
  const realSops = (await realToolsPath(["sops"])).split(":")[0];
  const bin = join(dir, "wrapped");
  await fakeTool(bin, "sops", `echo $$ > "${marker}"; ${delay ? `sleep ${delay}; ` : ""}exec "${realSops}/sops" "$@"`);
  return bin;
}

for (const signal of ["SIGINT", "SIGHUP", "SIGTERM"] as const) {
  Deno.test(`${signal} during \`secrets edit\` stops sops and the editor and removes the plaintext copy`, async () => {
    await withTempDir(async (dir) => {
      const { root, tmp, env } = await setUp(dir);
      const marker = join(dir, "editor");
      const editor = await fakeTool(
        join(dir, "bin"),
        "editor",
        `echo "$1" > "${marker}.path"; echo $$ > "${marker}.pid"; exec sleep 60`,
      );
      const wrapped = await sopsWrapper(dir, join(dir, "sops.pid"));
      const child = spawnEdit(root, { ...env, EDITOR: editor, PATH: `${wrapped}:${env.PATH}` }, "piped");
      const pids: number[] = [];
      try {
        const plaintext = await waitFor(`${marker}.path`);
        pids.push(Number(await waitFor(`${marker}.pid`)), Number(await waitFor(join(dir, "sops.pid"))));
        assert.ok(plaintext.startsWith(`${tmp}/`), `sops's copy ${plaintext} is not in the private temp dir`);
        assert.match(await Deno.readTextFile(plaintext), /REPLACE-ME/, "the editor sees plaintext");
        assert.equal((await Deno.stat(plaintext)).mode! & 0o077, 0, "plaintext readable by others");
        const ours = join(tmp, (await entries(tmp))[0]);
        assert.equal((await Deno.stat(ours)).mode! & 0o777, 0o700);

        child.kill(signal);
        const status = await child.status;
        assert.equal(status.code, { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[signal]);
        // Looked at right away: neither the editor nor sops outlives the task.
        assert.deepEqual(pids.filter(alive), [], "editor or sops still running after the task ended");
        await assert.rejects(Deno.stat(plaintext), Deno.errors.NotFound);
        assert.deepEqual(await entries(tmp), []);
        assert.equal(git(root, "status", "--porcelain"), "");
      } finally {
        pids.forEach(kill);
        await end(child);
      }
    });
  });
}

Deno.test("`secrets decrypt` writes plaintext to standard output only", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "decrypt", "system/demo/db.sops.yaml"],
      cwd: root,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(new TextDecoder().decode(out.stdout), /value: REPLACE-ME/);
    assert.deepEqual(await entries(tmp), []);
    assert.equal(git(root, "status", "--porcelain"), "");
  });
});

Deno.test("Ctrl-C during `secrets decrypt > out` stops sops, so nothing is written to out afterwards", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    // A sops that is slow to start: the task is interrupted while it waits.
    const marker = join(dir, "sops.pid");
    const wrapped = await sopsWrapper(dir, marker, 2);
    const outFile = join(dir, "out");
    const child = new Deno.Command("bash", {
      args: [
        "-c",
        `exec "$0" run -A tasks/secrets.ts decrypt system/demo/db.sops.yaml > "${outFile}"`,
        Deno.execPath(),
      ],
      cwd: root,
      env: { ...env, PATH: `${wrapped}:${env.PATH}` },
      clearEnv: true,
      stderr: "piped",
    }).spawn();
    const pid = Number(await waitFor(marker));
    try {
      child.kill("SIGINT");
      const status = await child.status;
      assert.equal(status.code, 130, `ended with ${JSON.stringify(status)}`);
      assert.equal(alive(pid), false, "sops outlived the task: it would write the plaintext to out");
      assert.equal(await Deno.readTextFile(outFile), "");
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

Deno.test("a hangup during `talos genconfig` stops talhelper and leaves no staging directory with machine configs", async () => {
  await withTempDir(async (dir) => {
    const { root, env } = await setUp(dir);
    await new Deno.Command("cp", { args: ["-R", `${join(REPO, "talos")}/.`, join(root, "talos")] }).output();
    await Deno.remove(join(root, "talos", "clusterconfig"), { recursive: true }).catch(() => {});
    await Deno.remove(join(root, "talos", "talsecret.sops.yaml")).catch(() => {});
    const alice = await owner(dir, "alice", root);
    await writeTalosBundle(alice.ctx);
    // talhelper's real check runs; the real genconfig writes its configs, then waits, as on a slow machine.
    const realTalhelper = (await realToolsPath(["talhelper"])).split(":")[0];
    const marker = join(dir, "talhelper.pid");
    const bin = join(dir, "slow");
    await fakeTool(
      bin,
      "talhelper",
      `case " $* " in *" --dry-run "*) ;; *" genconfig "*) "${realTalhelper}/talhelper" "$@"; echo $$ > "${marker}"; sleep 60;; esac
exec "${realTalhelper}/talhelper" "$@"`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "talos.ts"), "genconfig"],
      cwd: root,
      env: { ...env, PATH: `${bin}:${env.PATH}` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pid = Number(await waitFor(marker, 60));
    try {
      const staging = async () => (await entries(join(root, "talos"))).filter((n) => n.startsWith(".clusterconfig-"));
      assert.equal((await staging()).length, 1, "talhelper writes into a staging directory");
      child.kill("SIGHUP");
      assert.equal((await child.status).code, 129);
      assert.equal(alive(pid), false, "talhelper outlived the task");
      assert.deepEqual(await staging(), [], "the staging directory with machine configs is left behind");
      await assert.rejects(Deno.stat(join(root, "talos", "clusterconfig")), Deno.errors.NotFound);
    } finally {
      kill(pid);
      await child.output().catch(() => {});
    }
  });
});

/** Opens `fifo` without blocking and writes a line: a reader blocked on it goes on; none, nothing happens. */
async function release(fifo: string): Promise<void> {
  await new Deno.Command("bash", { args: ["-c", `exec 3<>"$0"; echo go >&3`, fifo] }).output();
}

async function mkfifo(path: string): Promise<string> {
  assert.ok((await new Deno.Command("mkfifo", { args: [path] }).output()).success);
  return path;
}

/** Waits until none of `pids` runs; false when some still run after `seconds`. */
async function allEnded(pids: number[], seconds = 30): Promise<boolean> {
  for (let i = 0; i < seconds * 10 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  return !pids.some(alive);
}

Deno.test("`secrets edit` killed outright: sops and the editor die with it, the file is not written, its folder is swept", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const file = join(root, "system/demo/db.sops.yaml");
    const before = await Deno.readTextFile(file);
    const fifo = await mkfifo(join(dir, "hold"));
    const marker = join(dir, "editor.pid");
    // An editor that stops at a known point, then (if it is let go) changes the value and saves.
    const editor = await fakeTool(
      join(dir, "bin"),
      "editor",
      `echo $$ > "${marker}"; read -r _ < "${fifo}"; sed -i s/REPLACE-ME/changed/ "$1"`,
    );
    const wrapped = await sopsWrapper(dir, join(dir, "sops.pid"));
    const child = spawnEdit(root, { ...env, EDITOR: editor, PATH: `${wrapped}:${env.PATH}` }, "null");
    const pids = [Number(await waitFor(marker)), Number(await waitFor(join(dir, "sops.pid")))];
    try {
      child.kill("SIGKILL");
      await child.status;
      assert.ok(await allEnded(pids), "sops or the editor outlived the task");
    } finally {
      // Let a surviving editor save, and sops write what it writes, before looking at the file.
      await release(fifo);
      await allEnded(pids);
      pids.forEach(kill);
    }
    assert.equal(await Deno.readTextFile(file), before, "the edit was written after the task had died");
    assert.equal(git(root, "status", "--porcelain"), "");

    // The dead task's folder (with sops's plaintext copy) is left; the next task sweeps it.
    assert.equal((await entries(tmp)).length, 1);
    const next = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "check", "--no-decrypt"],
      cwd: root,
      env,
      clearEnv: true,
    }).output();
    assert.equal(next.code, 0, new TextDecoder().decode(next.stderr));
    assert.deepEqual(await entries(tmp), []);
  });
});

Deno.test("tools' own temporary folders are inside the task's, and go with it on Ctrl-C", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const fifo = await mkfifo(join(dir, "hold"));
    const marker = join(dir, "sops.tmp");
    // A sops that makes its own temporary folder (as kustomize and helm do), says where, and stops.
    await fakeTool(join(dir, "fake"), "sops", `d=$(mktemp -d); echo "$d" > "${marker}"; read -r _ < "${fifo}"`);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "decrypt", "system/demo/db.sops.yaml"],
      cwd: root,
      env: { ...env, PATH: `${join(dir, "fake")}:${env.PATH}` },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const made = await waitFor(marker);
      const task = (await entries(tmp)).filter((e) => e.startsWith("homelab-"));
      assert.equal(task.length, 1, `${await entries(tmp)}`);
      assert.ok(made.startsWith(join(tmp, task[0]) + "/"), `${made} is not inside the task's folder`);
      child.kill("SIGINT");
      assert.equal((await child.status).code, 130);
      assert.deepEqual(await entries(tmp), [], "a tool's temporary folder was left behind");
    } finally {
      await release(fifo);
      await end(child);
    }
  });
});

Deno.test("the sweep removes the folders of dead tasks only: a live task's and other folders stay", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const { processStartTime } = await import("../lib/cleanup.ts");
    const mine = processStartTime(Deno.pid)!;
    // This test process runs: its folder stays. Its pid with another start time is a dead task
    // whose pid was reused: swept. So is a pid that runs no process.
    const live = join(tmp, `homelab-${Deno.pid}-${mine}-live`);
    const reused = join(tmp, `homelab-${Deno.pid}-${Number(mine) + 1}-reused`);
    const gone = join(tmp, `homelab-4194303-1-gone`);
    const other = join(tmp, "homelab-other-thing");
    for (const d of [live, reused, gone, other]) await Deno.mkdir(join(d, "inside"), { recursive: true });
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "check", "--no-decrypt"],
      cwd: root,
      env,
      clearEnv: true,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual((await entries(tmp)).sort(), [`homelab-${Deno.pid}-${mine}-live`, "homelab-other-thing"].sort());
  });
});

Deno.test("`secrets edit` puts the edited file in place; leaving it unchanged is no error and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const { root, tmp, env } = await setUp(dir);
    const file = "system/demo/db.sops.yaml";
    const before = await Deno.readTextFile(join(root, file));
    const edit = async (editor: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(root, "tasks", "secrets.ts"), "edit", file],
        cwd: root,
        env: { ...env, EDITOR: editor },
        clearEnv: true,
        stdin: "null",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    await edit("true");
    assert.equal(await Deno.readTextFile(join(root, file)), before);
    await edit(await fakeTool(join(dir, "bin"), "change", `sed -i s/REPLACE-ME/changed/ "$1"`));
    const after = await Deno.readTextFile(join(root, file));
    assert.notEqual(after, before);
    assert.doesNotMatch(after, /changed|REPLACE-ME/, "plaintext in the repository");
    const decrypted = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(root, "tasks", "secrets.ts"), "decrypt", file],
      cwd: root,
      env,
      clearEnv: true,
    }).output();
    assert.match(new TextDecoder().decode(decrypted.stdout), /value: changed/);
    assert.deepEqual(await entries(tmp), []);
  });
});
