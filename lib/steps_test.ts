import assert from "node:assert/strict";
import { HomelabError, UsageError } from "./errors.ts";
import { runSteps, type Step, waitUntil } from "./steps.ts";
import { consoleUi } from "./ui.ts";

/** Steps over a set of "done" names: running one marks it done (unless `broken`). */
function world(
  names: string[],
  options: { done?: string[]; broken?: string; guarded?: string; confirm?: string } = {},
) {
  const done = new Set(options.done ?? []);
  const ran: string[] = [];
  const steps: Step[] = names.map((name) => ({
    name,
    title: `make ${name}`,
    guarded: name === options.guarded,
    confirm: name === options.confirm ? `really ${name}?` : undefined,
    plan: () => [`do ${name}`],
    done: () => Promise.resolve(done.has(name) ? `${name} is there` : undefined),
    run: () => {
      ran.push(name);
      if (name !== options.broken) done.add(name);
      return Promise.resolve();
    },
  }));
  const lines: string[] = [];
  const ui = consoleUi({ write: (t) => lines.push(...t.split("\n").filter(Boolean)) });
  return { steps, ran, lines, ui };
}

Deno.test("runSteps: skips what is done, runs the rest in order, and reports both", async () => {
  const w = world(["a", "b", "c"], { done: ["b"] });
  const reports = await runSteps("p", w.steps, { ui: w.ui });
  assert.deepEqual(w.ran, ["a", "c"]);
  assert.deepEqual(reports.map((r) => r.outcome), ["ran", "done already", "ran"]);
  assert.ok(w.lines.includes("[2/3] b: done already (b is there)"));
});

Deno.test("runSteps: --from and --only choose steps; an unknown step lists the valid ones", async () => {
  const w = world(["a", "b", "c"]);
  await runSteps("p", w.steps, { ui: w.ui, from: "b" });
  assert.deepEqual(w.ran, ["b", "c"]);
  const v = world(["a", "b", "c"]);
  await runSteps("p", v.steps, { ui: v.ui, only: "a" });
  assert.deepEqual(v.ran, ["a"]);
  const err = await runSteps("p", v.steps, { ui: v.ui, from: "x" }).then(() => undefined, (e) => e);
  assert.ok(err instanceof UsageError);
  assert.match(err.message, /--from x/);
  assert.equal(err.hint, "choose from: a, b, c");
  await assert.rejects(runSteps("p", v.steps, { ui: v.ui, from: "a", only: "b" }), UsageError);
});

Deno.test("runSteps: --dry-run prints each step's commands and runs nothing", async () => {
  const w = world(["a", "b"]);
  const reports = await runSteps("p", w.steps, { ui: w.ui, dryRun: true });
  assert.deepEqual(w.ran, []);
  assert.deepEqual(reports.map((r) => r.outcome), ["planned", "planned"]);
  assert.deepEqual(w.lines.filter((l) => l.trim().startsWith("do ")).map((l) => l.trim()), ["do a", "do b"]);
});

Deno.test("runSteps: a destructive step asks first; without yes or a yes answer it is refused", async () => {
  const w = world(["a", "b"], { confirm: "b" });
  const err = await runSteps("p", w.steps, { ui: w.ui }).then(() => undefined, (e) => e);
  assert.ok(err instanceof HomelabError && /not confirmed: really b\?/.test(err.message));
  assert.deepEqual(w.ran, ["a"]);
  const asked: string[] = [];
  await runSteps("p", w.steps, { ui: w.ui, ask: (q) => (asked.push(q), Promise.resolve(true)) });
  assert.deepEqual(asked, ["really b?"]);
  assert.deepEqual(w.ran, ["a", "b"]);
  const y = world(["b"], { confirm: "b" });
  await runSteps("p", y.steps, { ui: y.ui, yes: true });
  assert.deepEqual(y.ran, ["b"]);
});

Deno.test("runSteps: the guard refuses before any step runs", async () => {
  const w = world(["a", "b"], { guarded: "b" });
  const err = await runSteps("p", w.steps, {
    ui: w.ui,
    guard: () => Promise.reject(new HomelabError("wrong cluster")),
  }).then(() => undefined, (e) => e);
  assert.equal(err?.message, "wrong cluster");
  assert.deepEqual(w.ran, [], "a step ran before the guard refused");
});

Deno.test("runSteps: a step whose check still fails after it ran stops the run", async () => {
  const w = world(["a", "b"], { broken: "a" });
  const err = await runSteps("p", w.steps, { ui: w.ui }).then(() => undefined, (e) => e);
  assert.ok(err instanceof HomelabError);
  assert.match(err.message, /\[1\/2\] a: the step ran but its check still finds it not done/);
  assert.deepEqual(w.ran, ["a"]);
});

Deno.test("waitUntil: prints each new state, and on timeout says what it saw last and the diagnostics", async () => {
  const lines: string[] = [];
  const ui = consoleUi({ write: (t) => lines.push(...t.split("\n").filter(Boolean)) });
  let n = 0;
  const states = ["starting", "starting", "half", "half"];
  const err = await waitUntil(ui, "the thing", () => Promise.resolve({ done: false, state: states[n++] ?? "half" }), {
    timeoutMs: 300,
    intervalMs: 50,
    diagnose: () => Promise.resolve(["  pod x: ImagePullBackOff"]),
  }).then(() => undefined, (e) => e);
  assert.ok(err instanceof HomelabError);
  assert.match(err.message, /timed out after 0s waiting for the thing; last seen: half\n {2}pod x: ImagePullBackOff/);
  assert.deepEqual(lines.filter((l) => l.startsWith("  the thing: ")), ["  the thing: starting", "  the thing: half"]);
  assert.ok(lines[0].startsWith("waiting for the thing (deadline 0s)"));
});

Deno.test("waitUntil on a terminal: state lines go above the live progress line, which is redrawn after them", async () => {
  let out = "";
  // A clock that stands still: the printed durations do not depend on how busy the machine is.
  const ui = consoleUi({ live: true, write: (t) => out += t, now: () => 0 });
  let n = 0;
  await waitUntil(ui, "x", () => Promise.resolve({ done: ++n >= 3, state: `s${n}` }), {
    timeoutMs: 5000,
    intervalMs: 10,
  });
  const label = "waiting for x (deadline 5s) …";
  assert.ok(out.startsWith(label), JSON.stringify(out));
  assert.ok(out.includes(`\r\x1b[2K  x: s1\n${label}`), JSON.stringify(out));
  assert.ok(out.includes(`\r\x1b[2K  x: s2\n${label}`), JSON.stringify(out));
  assert.ok(out.endsWith(`\r\x1b[2K${label.replace(" …", "")}: done in 0s\n`), JSON.stringify(out));
});
