import assert from "node:assert/strict";
import { runTask, SYSTEM_PATH } from "./helpers.ts";

const env = { PATH: SYSTEM_PATH, HOME: "/nonexistent" };

for (const task of ["tools", "doctor", "test"]) {
  Deno.test(`${task}: an unknown flag is a usage error (exit 2) naming the flag`, async () => {
    const r = await runTask(task, ["--no-such-flag"], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--no-such-flag'/);
  });

  Deno.test(`${task}: --help describes the task and exits 0`, async () => {
    const r = await runTask(task, ["--help"], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^Usage: ${task} `));
    assert.match(r.stdout, /--help/);
  });
}

Deno.test("doctor rejects a purpose it does not know, listing the valid ones", async () => {
  const r = await runTask("doctor", ["--for", "prod"], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Allowed choices are offline, bootstrap, dev/);
});
