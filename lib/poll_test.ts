import assert from "node:assert/strict";
import { poll } from "./poll.ts";

Deno.test("poll returns the first value an attempt finds, pausing longer each time up to the longest pause", async () => {
  const at: number[] = [];
  let calls = 0;
  const found = await poll(() => {
    at.push(performance.now());
    return Promise.resolve(++calls === 4 ? "ready" : undefined);
  }, { timeoutMs: 10_000, delayMs: 5, factor: 2, maxDelayMs: 10 });
  assert.equal(found, "ready");
  assert.equal(calls, 4);
  // pauses of 5, 10, 10 ms (timers never fire early)
  assert.ok(at[1] - at[0] >= 4 && at[2] - at[1] >= 9 && at[3] - at[2] >= 9, `pauses: ${at}`);
});

Deno.test("poll returns undefined once the deadline has passed, and an attempt's error ends it", async () => {
  let calls = 0;
  const none = await poll(() => {
    calls++;
    return Promise.resolve(undefined);
  }, { timeoutMs: 0, delayMs: 1 });
  assert.equal(none, undefined);
  assert.ok(calls >= 1);
  await assert.rejects(poll(() => Promise.reject(new Error("gone")), { timeoutMs: 10_000, delayMs: 1 }), /gone/);
});
