/**
 * Private scratch directories are removed however the process ends: through a task's exit path,
 * and also when no task runs it (a test that calls the library directly).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { denoDir, REPO, withTempDir } from "./helpers.ts";

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
