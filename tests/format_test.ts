/**
 * Files the tasks write pass the repository's own format check (`deno fmt --check`, as `deno task
 * test` runs it): sops' YAML (2-space indent through `.sops.yaml`'s `stores`), the generator and
 * kustomization `secrets new` edits, what `new app` writes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { editFile, init, newSecret, rotate, writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { newApp } from "../lib/scaffold.ts";
import { fakeTool, REPO, withTempDir } from "./helpers.ts";
import { git, owner, scratchRepo } from "./secrets_helpers.ts";

function fmtCheck(root: string): { code: number; out: string } {
  const r = new Deno.Command(Deno.execPath(), { args: ["fmt", "--check"], cwd: root, env: { NO_COLOR: "1" } })
    .outputSync();
  const text = new TextDecoder();
  return { code: r.code, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

Deno.test("after init --adopt, secrets new, rotate, edit and new app the repository passes deno fmt --check", async () => {
  await withTempDir(async (dir) => {
    const origin = await scratchRepo(dir);
    await Deno.copyFile(join(REPO, "deno.json"), join(origin, "deno.json"));
    await Deno.mkdir(join(origin, "root"));
    await Deno.copyFile(join(REPO, "root/components.json"), join(origin, "root/components.json"));
    const alice = await owner(dir, "alice", origin);
    await init(alice.ctx);
    await newSecret(alice.ctx, "system/demo", "db");
    await writeTalosBundle(alice.ctx);
    git(origin, "add", "-A");
    git(origin, "commit", "-q", "--no-verify", "-m", "alice");

    const root = join(dir, "clone");
    git(dir, "clone", "-q", origin, root);
    const editor = await fakeTool(join(dir, "bin"), "editor", `sed -i 's/REPLACE-ME/changed/' "$1"`);
    const bob = await owner(dir, "bob", root, { EDITOR: editor });
    const steps: [string, () => Promise<unknown>][] = [
      ["secrets init --adopt", () => init(bob.ctx, { adopt: true })],
      ["secrets new", () => newSecret(bob.ctx, "system/demo", "api", ["token", "user"])],
      ["secrets rotate --data-key", () => rotate(bob.ctx, { dataKey: true })],
      ["secrets edit", () => editFile(bob.ctx, "system/demo/api.sops.yaml")],
      ["new app", () => newApp(root, "photos", "a photo library")],
    ];
    for (const [name, step] of steps) {
      await step();
      const r = fmtCheck(root);
      assert.equal(r.code, 0, `after ${name}, deno fmt --check fails:\n${r.out}`);
    }
    assert.match(await Deno.readTextFile(join(root, "system/demo/api.sops.yaml")), /^ {2}token: ENC\[/m);
  });
});
