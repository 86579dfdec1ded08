import assert from "node:assert/strict";
import { runTask, SYSTEM_PATH } from "./helpers.ts";

const env = { PATH: SYSTEM_PATH, HOME: "/nonexistent" };

// task name → entry file in tasks/
const TASKS: Record<string, string> = {
  tools: "tools",
  doctor: "doctor",
  test: "suite",
  bench: "bench",
  secrets: "secrets",
  talos: "talos",
  new: "new",
  render: "render",
  check: "check",
  diff: "diff",
  charts: "charts",
  bootstrap: "bootstrap",
  dev: "dev",
  configure: "configure",
  rehearse: "rehearse",
};

for (const [task, entry] of Object.entries(TASKS)) {
  Deno.test(`${task}: an unknown flag is a usage error (exit 2) naming the flag`, async () => {
    const r = await runTask(entry, ["--no-such-flag"], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--no-such-flag'/);
  });

  Deno.test(`${task}: --help describes the task and exits 0`, async () => {
    const r = await runTask(entry, ["--help"], env);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^Usage: ${task} `));
    assert.match(r.stdout, /--help/);
  });
}

Deno.test("doctor rejects a purpose it does not know, listing the valid ones", async () => {
  const r = await runTask("doctor", ["--for", "prod"], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Allowed choices are secrets, talos, check, server, test/);
});

Deno.test("an unknown subcommand is a usage error listing the valid ones, without a stack trace", async () => {
  for (
    const [task, word, valid] of [
      ["secrets", "frobnicate", /secrets's commands are init, .*edit, .*rotate/],
      ["talos", "reboot", /talos's commands are .*genconfig, .*upgrade-k8s/],
      ["dev", "up", /dev's commands are down, status/],
      ["dev", "--from cilium --dry-run up", /dev's commands are down, status/],
      ["new", "thing", /new's commands are system, platform, app/],
    ] as const
  ) {
    const r = await runTask(task, word.split(" "), env);
    assert.equal(r.code, 2, `${task} ${word}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error: unknown command '${word.split(" ").pop()}' for ${task}`, "m"));
    assert.match(r.stderr, valid);
    assert.match(r.stderr, new RegExp(`^hint: run \`deno task ${task} --help\``, "m"));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  }
});

Deno.test("render and diff reject an environment they do not know, listing the valid ones", async () => {
  for (const task of ["render", "diff"]) {
    const r = await runTask(task, ["--env", "staging"], env);
    assert.equal(r.code, 2, task);
    assert.match(r.stderr, /Allowed choices are prod, dev/, task);
  }
});

Deno.test("every task in deno.json has a description and an entry file this test covers", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  for (
    const [name, task] of Object.entries(config.tasks as Record<string, { description?: string; command: string }>)
  ) {
    assert.ok(task.description, `task ${name} has no description`);
    assert.equal(task.command, `deno run -A tasks/${TASKS[name]}.ts`, `task ${name}`);
  }
});
