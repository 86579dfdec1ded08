/**
 * Private scratch directories are removed however the process ends: through a task's exit path,
 * and also when no task runs it (a test that calls the library directly).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { denoDir, REPO, withTempDir } from "./helpers.ts";
import { hold } from "./kube_helpers.ts";

Deno.test("a private temp dir made by library code in a test is gone when the test process ends", async () => {
  await withTempDir(async (dir) => {
    const marker = join(dir, "made");
    const file = join(dir, "scratch_test.ts");
    await Deno.writeTextFile(
      file,
      `import { privateTempDir } from "${new URL(`file://${REPO}/lib/cleanup.ts`).href}";
Deno.test("makes one", async () => {
  const d = await privateTempDir("homelab-scratch-");
  await Deno.writeTextFile(${JSON.stringify(marker)}, d);
});
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-check", file],
      cwd: REPO,
      env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const made = await Deno.readTextFile(marker);
    const left = await Deno.stat(made).then(() => true, () => false);
    if (left) await Deno.remove(made, { recursive: true });
    assert.equal(left, false, `${made} was left behind`);
  });
});

/**
 * A task that registers cleanups and ends through the exit path (`exit`) or by SIGINT (`signal`,
 * after it printed "ready"); each cleanup appends its name to the marker file once it has
 * waited on a timer, so one that the exit does not wait for never writes.
 */
const LATE_TASK = `import { exitWith, onExit } from "${new URL(`file://${REPO}/lib/cleanup.ts`).href}";
const [marker, mode] = Deno.args;
const record = (name: string) => async () => {
  await new Promise((r) => setTimeout(r, 20));
  await Deno.writeTextFile(marker, name + "\\n", { append: true });
};
// A cleanup that, as it runs, makes something needing a cleanup of its own (a scratch directory).
onExit(() => {
  onExit(record("made-by-cleanup"));
});
onExit(record("registered-first"));
if (mode === "exit") {
  exitWith(3);
  // Registered after the exit began, before it ended (a build finishing during Ctrl-C).
  onExit(record("after-exit-began"));
} else {
  console.log("ready");
  await new Promise(() => {});
}
`;

Deno.test("a cleanup registered while the task is already exiting still runs, once, before the exit", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "late.ts");
    await Deno.writeTextFile(file, LATE_TASK);
    const marker = join(dir, "marker");
    const run = (mode: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", file, marker, mode],
        cwd: REPO,
        env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "inherit",
      }).spawn();

    const exited = await run("exit").status;
    assert.equal(exited.code, 3);
    assert.deepEqual((await Deno.readTextFile(marker)).split("\n").filter(Boolean).sort(), [
      "after-exit-began",
      "made-by-cleanup",
      "registered-first",
    ]);

    await Deno.remove(marker);
    const child = run("signal");
    // Signalled at a known point: once it has registered everything and said so.
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    reader.releaseLock();
    child.kill("SIGINT");
    await child.stdout.cancel().catch(() => {});
    assert.equal((await child.status).code, 130);
    assert.deepEqual((await Deno.readTextFile(marker)).split("\n").filter(Boolean).sort(), [
      "made-by-cleanup",
      "registered-first",
    ]);
  });
});

Deno.test("a process killed outright leaves its private temp dirs (a control plane's keys, say) only until the next one starts", async () => {
  await withTempDir(async (dir) => {
    const tmp = join(dir, "tmp");
    await Deno.mkdir(tmp);
    const marker = join(dir, "made");
    const fifo = join(dir, "hold");
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const cleanup = new URL(`file://${REPO}/lib/cleanup.ts`).href;
    const script = join(dir, "holder.ts");
    // Makes a private dir as startControlPlane does, says where, and waits on the fifo forever.
    await Deno.writeTextFile(
      script,
      `import { privateTempDir } from "${cleanup}";
const d = await privateTempDir("homelab-cp-");
await Deno.writeTextFile(\`\${d}/key.pem\`, "secret");
await Deno.writeTextFile(${JSON.stringify(marker)}, d);
await Deno.readTextFile(${JSON.stringify(fifo)});
`,
    );
    const env = { DENO_DIR: denoDir(), NO_COLOR: "1", TMPDIR: tmp };
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", script],
      cwd: REPO,
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).spawn();
    let made = "";
    for (let i = 0; i < 600 && !made; i++) {
      made = await Deno.readTextFile(marker).catch(() => "");
      if (!made) await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGKILL");
    await child.status;
    assert.ok(made.startsWith(`${tmp}/homelab-${child.pid}-`), made);
    assert.ok((await Deno.stat(made)).isDirectory, "killed outright, it could not clean up");

    // The next process that needs a private dir sweeps the dead one's.
    const next = new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { privateTempDir } from "${cleanup}"; await privateTempDir("x-");`],
      cwd: REPO,
      env,
      clearEnv: true,
    });
    const out = await next.output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const left: string[] = [];
    for await (const e of Deno.readDir(tmp)) left.push(e.name);
    assert.deepEqual(left, [], "the dead process's folder is still there");
  });
});

Deno.test("a control plane whose task was killed outright: its folder, keys included, goes at the next start", async () => {
  await withTempDir(async (dir) => {
    const tmp = join(dir, "tmp");
    await Deno.mkdir(tmp);
    // The tools are found as the kube tests find them (this process's PATH and HOME).
    const env = { DENO_DIR: denoDir(), NO_COLOR: "1", TMPDIR: tmp };
    // hold.ts prints its daemons and folder once the control plane is up, then waits.
    const { child, info } = await hold({ TMPDIR: tmp });
    child.kill("SIGKILL");
    await child.status;
    assert.ok(info.dir.startsWith(`${tmp}/homelab-${child.pid}-`), info.dir);
    assert.ok((await Deno.stat(join(info.dir))).isDirectory);
    // The guards stop the daemons when the pipe from the killed task closes; wait until they have.
    const running = (pid: number) => Deno.stat(`/proc/${pid}`).then(() => true, () => false);
    for (let i = 0; i < 300 && (await Promise.all(info.pids.map(running))).some(Boolean); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const next = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { privateTempDir } from "${new URL(`file://${REPO}/lib/cleanup.ts`).href}";
await privateTempDir("x-");`,
      ],
      env,
      clearEnv: true,
    }).output();
    assert.ok(next.success, new TextDecoder().decode(next.stderr));
    await assert.rejects(Deno.stat(info.dir), Deno.errors.NotFound, `${info.dir} is still there`);
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
  });
});

Deno.test("a task run with another task's folder as TMPDIR puts its own folder beside it, so socket paths stay short", async () => {
  await withTempDir(async (dir) => {
    // TMPDIR as a task gives it to its children: its process folder, two levels deep here.
    const parent = join(dir, "homelab-1-2-aaaa", "homelab-3-4-bbbb");
    await Deno.mkdir(parent, { recursive: true });
    const cleanup = new URL(`file://${REPO}/lib/cleanup.ts`).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { processTempDir } from "${cleanup}"; console.log(await processTempDir());`],
      cwd: REPO,
      env: { DENO_DIR: denoDir(), NO_COLOR: "1", TMPDIR: parent },
      clearEnv: true,
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const made = new TextDecoder().decode(out.stdout).trim();
    assert.equal(made.slice(0, made.lastIndexOf("/")), dir, `${made} is not beside the parent's folder`);
    assert.match(made.slice(made.lastIndexOf("/") + 1), /^homelab-\d+-\d+-/);
  });
});

Deno.test("with a TMPDIR too deep for a Unix socket, sockets get a short private folder in /tmp, gone at the exit", async () => {
  await withTempDir(async (dir) => {
    const deep = join(dir, "d".repeat(60), "e".repeat(60));
    await Deno.mkdir(deep, { recursive: true });
    const cleanup = new URL(`file://${REPO}/lib/cleanup.ts`).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { processTempDir, socketDir } from "${cleanup}";
const s = await socketDir();
console.log(JSON.stringify({ own: await processTempDir(), socket: s, mode: (await Deno.stat(s)).mode & 0o777 }));`,
      ],
      cwd: REPO,
      env: { DENO_DIR: denoDir(), NO_COLOR: "1", TMPDIR: deep },
      clearEnv: true,
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const { own, socket, mode } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.ok(own.startsWith(`${deep}/homelab-`), own);
    assert.match(socket, /^\/tmp\/homelab-\d+-\d+-[^/]+$/);
    assert.equal(mode, 0o700);
    assert.ok(socket.length + 40 < 108, socket);
    await assert.rejects(Deno.stat(socket), Deno.errors.NotFound, `${socket} outlived its process`);
  });
});
