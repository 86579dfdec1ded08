import assert from "node:assert/strict";
import { Pool } from "./pool.ts";

Deno.test("Pool runs at most its size at a time, and every task", async () => {
  const pool = new Pool(2);
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await Promise.all(Array.from({ length: 7 }, (_, i) =>
    pool.run(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      done.push(i);
    })));
  assert.equal(most, 2);
  assert.deepEqual(done.sort(), [0, 1, 2, 3, 4, 5, 6]);
});

Deno.test("Pool.each runs every item at most its size at a time, and rejects with a failure", async () => {
  const pool = new Pool(3);
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await pool.each([1, 2, 3, 4, 5, 6, 7, 8], async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    seen.push(n);
  });
  assert.equal(most, 3);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
  await assert.rejects(
    pool.each([1, 2, 3], (n) => n === 2 ? Promise.reject(new Error("two failed")) : Promise.resolve()),
    /two failed/,
  );
});
