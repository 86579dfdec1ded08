import assert from "node:assert/strict";
import { join } from "node:path";
import { cmd, CommandError, quote, REDACTED, render, Runner, secret, ToolError } from "./cmd.ts";
import { fakeTool, SYSTEM_PATH, withTempDir } from "../tests/helpers.ts";

Deno.test("render prints argv with spaces and quotes exactly as a shell reads it", () => {
  const args = ["apply-config", "--file", "my node.yaml", "it's", 'say "hi"', "$HOME", "", "a\nb", "ok-plain_1.2/x"];
  const line = render(cmd("talosctl", args));
  assert.equal(
    line,
    `talosctl apply-config --file 'my node.yaml' 'it'\\''s' 'say "hi"' '$HOME' '' 'a\nb' ok-plain_1.2/x`,
  );
  // The printed line, run by a real shell, passes exactly these arguments.
  const shellArgs = line.replace(/^talosctl /, "");
  const out = new Deno.Command("sh", { args: ["-c", `printf '%s\\0' ${shellArgs}`] }).outputSync();
  assert.deepEqual(new TextDecoder().decode(out.stdout).split("\0").slice(0, -1), args);
});

Deno.test("render shows env, stdin and cwd", () => {
  const c = cmd("sops", ["-e", "/dev/stdin"], {
    env: { SOPS_AGE_KEY_FILE: "/k/keys.txt" },
    stdin: "a: b",
    cwd: "/r d",
  });
  assert.equal(render(c), `cd '/r d' && printf '%s' 'a: b' | SOPS_AGE_KEY_FILE=/k/keys.txt sops -e /dev/stdin`);
  assert.equal(quote(""), "''");
});

Deno.test("secret args, env and stdin are redacted in the printed command", () => {
  const c = cmd("tool", ["--token", secret("hunter2")], {
    env: { API_KEY: secret("s3cr3t"), PLAIN: "visible" },
    stdin: secret("private-key-material"),
  });
  const line = render(c);
  assert.ok(!line.includes("hunter2") && !line.includes("s3cr3t") && !line.includes("private-key-material"), line);
  assert.equal(line, `printf '%s' '${REDACTED}' | API_KEY='${REDACTED}' PLAIN=visible tool --token '${REDACTED}'`);
  assert.equal(String(secret("x")), REDACTED);
  assert.equal(JSON.stringify({ s: secret("x") }), `{"s":"${REDACTED}"}`);
  assert.equal(Deno.inspect(secret("x")), REDACTED);
});

Deno.test("a running command gets the real secret values; logs and errors never show them", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(
      bin,
      "leaky",
      `read -r input; echo "arg=$1 env=$API_KEY in=$input"; echo "error: bad token $1 ($API_KEY, $input)" >&2; exit 3`,
    );
    const logged: string[] = [];
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` }, log: (l) => logged.push(l) });
    const c = cmd("leaky", [secret("hunter2")], {
      env: { API_KEY: secret("s3cr3t") },
      stdin: secret("stdin-secret\n"),
    });

    const ok = await runner.run(c, { check: false });
    assert.equal(ok.code, 3);
    assert.equal(ok.stdout, "arg=hunter2 env=s3cr3t in=stdin-secret\n");

    const err = await runner.run(c).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.equal(err.tool, "leaky");
    assert.equal(err.code, 3);
    assert.match(err.stderrTail, /error: bad token <redacted> \(<redacted>, <redacted>\)/);
    for (const text of [err.message, err.stderrTail, err.command, ...logged]) {
      for (const s of ["hunter2", "s3cr3t", "stdin-secret"]) assert.ok(!text.includes(s), `${s} leaked into: ${text}`);
    }
    assert.equal(logged.length, 2);
  });
});

Deno.test("a failing tool gives a typed error with the tail of its stderr", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "noisy", `for i in $(seq 1 40); do echo "line $i" >&2; done; exit 7`);
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` } });
    const err = await runner.run(cmd("noisy", ["a b"])).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.equal(err.code, 7);
    assert.equal(err.command, "noisy 'a b'");
    assert.equal(err.stderrTail.split("\n").length, 15);
    assert.ok(err.stderrTail.endsWith("line 40"));
    assert.ok(!err.stderrTail.includes("line 25\n"));
    assert.match(err.message, /^noisy failed with exit code 7: noisy 'a b'\n {2}\| line 26/);
  });
});

Deno.test("secretOutput keeps standard output out of errors", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "decrypt", `echo "password: plaintext"; exit 1`);
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` } });
    const err = await runner.run(cmd("decrypt", [], { secretOutput: true })).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.ok(!err.message.includes("plaintext"), err.message);
    const plain = await runner.run(cmd("decrypt", [])).then(() => undefined, (e) => e);
    assert.ok(plain instanceof CommandError && plain.stderrTail.includes("plaintext"));
  });
});

Deno.test("a timeout kills the tool", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const pidFile = join(dir, "pid");
    await fakeTool(bin, "hang", `echo $$ > "${pidFile}"; exec sleep 60`);
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` } });
    const err = await runner.run(cmd("hang", [], { timeout: 500 })).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.ok(err.timedOut);
    assert.match(err.message, /hang timed out and was stopped/);
    const pid = Number(await Deno.readTextFile(pidFile));
    const alive = new Deno.Command("bash", { args: ["-c", `kill -0 ${pid}`], stderr: "null" }).outputSync().success;
    assert.equal(alive, false, `process ${pid} still runs after the timeout`);
  });
});

Deno.test("a dry run prints commands that change things and runs read-only ones", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const marker = join(dir, "ran");
    await fakeTool(bin, "change", `touch "${marker}"`);
    await fakeTool(bin, "look", `echo looked`);
    const printed: string[] = [];
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` }, dryRun: true, log: (l) => printed.push(l) });
    const r = await runner.run(cmd("change", ["--to", "new value", secret("tok")]));
    assert.equal(r.code, 0);
    assert.deepEqual(printed, ["change --to 'new value' '<redacted>'"]);
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    assert.equal(await runner.output(cmd("look", [], { readOnly: true })), "looked");
  });
});

Deno.test("a tool that is not on PATH is a ToolError naming it", async () => {
  const runner = new Runner({ env: { PATH: "/nonexistent" } });
  const err = await runner.run(cmd("no-such-tool", [])).then(() => undefined, (e) => e);
  assert.ok(err instanceof ToolError);
  assert.equal(err.tool, "no-such-tool");
  assert.match(err.message, /no-such-tool was not found on PATH/);
});

Deno.test("a command's own timeout wins over the runner's default, both ways", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const pidFile = join(dir, "pid");
    await fakeTool(bin, "slow", `echo $$ > "${pidFile}"; sleep 0.5; echo done`);
    const env = { PATH: `${bin}:${SYSTEM_PATH}` };

    // A short default must not cut off a command that names a longer timeout of its own.
    const short = new Runner({ env, defaultTimeout: 200 });
    const out = await short.run(cmd("slow", [], { timeout: 5_000 })).then((r) => r.stdout, (e) => e);
    assert.equal(out, "done\n", `the command's own 5 s timeout lost to the runner's 200 ms default: ${out}`);

    // A long default must not stretch a command that names a shorter timeout.
    const long = new Runner({ env, defaultTimeout: 5_000 });
    const err = await long.run(cmd("slow", [], { timeout: 200 })).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError, "the command's own 200 ms timeout lost to the runner's 5 s default");
    assert.ok(err.timedOut);

    // Without a timeout of its own, the command gets the runner's default.
    const cut = await short.run(cmd("slow", [])).then(() => undefined, (e) => e);
    assert.ok(cut instanceof CommandError && cut.timedOut, "the runner's default timeout was not applied");
    const pid = Number(await Deno.readTextFile(pidFile));
    const alive = new Deno.Command("bash", { args: ["-c", `kill -0 ${pid}`], stderr: "null" }).outputSync().success;
    assert.equal(alive, false, `process ${pid} still runs after the default timeout`);
  });
});

Deno.test("a tool that exits 124 on its own has failed, not timed out", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "gives-up", `echo "deadline of my own passed" >&2; exit 124`);
    const runner = new Runner({ env: { PATH: `${bin}:${SYSTEM_PATH}` }, defaultTimeout: 60_000 });
    const err = await runner.run(cmd("gives-up", [])).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.equal(err.code, 124);
    assert.equal(err.timedOut, false, "reported as stopped by our timeout");
    assert.match(err.message, /^gives-up failed with exit code 124: gives-up\n {2}\| deadline of my own passed/);
  });
});
