import assert from "node:assert/strict";
import { join } from "node:path";
import { Pool, pruneCache } from "./pipeline.ts";

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

Deno.test("pruneCache drops entries unused for 30 days, once a day", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const old = new Date(Date.now() - 40 * 86_400_000);
    for (const f of ["old.json", "fresh.json", "old-again.json"]) await Deno.writeTextFile(join(dir, f), "{}");
    await Deno.utime(join(dir, "old.json"), old, old);
    await pruneCache(dir);
    const names = async () => {
      const n: string[] = [];
      for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".json")) n.push(e.name);
      return n.sort();
    };
    assert.deepEqual(await names(), ["fresh.json", "old-again.json"]);
    await Deno.utime(join(dir, "old-again.json"), old, old);
    await pruneCache(dir);
    assert.deepEqual(await names(), ["fresh.json", "old-again.json"], "not again the same day");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
