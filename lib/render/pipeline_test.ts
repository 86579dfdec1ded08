import assert from "node:assert/strict";
import { join } from "node:path";
import { pruneCache } from "./pipeline.ts";

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
