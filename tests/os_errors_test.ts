/**
 * The machine says no: a repository, HOME or output folder that cannot be written. Each task ends
 * with one paragraph naming the path, why and how to fix it, a non-zero exit, no stack trace, and
 * nothing written.
 *
 * "Cannot be written" is made with something root cannot bypass either: as root the immutable
 * flag (`chattr +i`: EPERM for everyone), otherwise mode 0555 (EACCES); and a path whose parent
 * is a regular file (ENOTDIR), or an existing file where a folder is wanted (EEXIST).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { describeOsError, formatError } from "../lib/errors.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { assertParagraph, copyTooling, git, scratchRepo, taskRepo as setUp } from "./secrets_helpers.ts";

/** Makes `paths` refuse writes for the length of `fn`, then gives them back. */
async function readOnly<T>(paths: readonly string[], fn: () => Promise<T>): Promise<T> {
  const root = Deno.uid() === 0;
  const set = (on: boolean) =>
    Promise.all(paths.map(async (p) => {
      if (!root) return await Deno.chmod(p, on ? 0o555 : 0o755);
      const out = await new Deno.Command("chattr", { args: [on ? "+i" : "-i", p], stderr: "piped" }).output();
      if (!out.success && on) throw new Error(`chattr +i ${p}: ${new TextDecoder().decode(out.stderr)}`);
    }));
  await set(true);
  try {
    return await fn();
  } finally {
    await set(false);
  }
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const DENIED = /: permission denied\nhint: check that you may write /;

Deno.test("a read-only repository: new app, secrets new, secrets init say which folder and write nothing", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await setUp(dir);
    await Deno.mkdir(join(root, "root"));
    await Deno.copyFile(join(REPO, "root/components.json"), join(root, "root/components.json"));
    await Deno.mkdir(join(root, "apps"));
    git(root, "add", "-A");
    git(root, "commit", "-q", "--no-verify", "-m", "root");

    await readOnly([join(root, "apps")], async () => {
      const r = await run("new", ["app", "photos"]);
      assertParagraph(r, new RegExp(`cannot create the folder ${esc(join(root, "apps/photos"))}${DENIED.source}`));
    });
    // components.json cannot be changed: the app's folder is not left behind either.
    await readOnly([join(root, "root"), join(root, "root/components.json")], async () => {
      const r = await run("new", ["app", "photos"]);
      assertParagraph(r, new RegExp(`cannot write ${esc(join(root, "root/components.json"))}${DENIED.source}`));
    });
    await assert.rejects(Deno.stat(join(root, "apps/photos")), Deno.errors.NotFound);
    await readOnly([join(root, "system/demo")], async () => {
      const r = await run("secrets", ["new", "system/demo", "api"]);
      assertParagraph(r, new RegExp(`cannot write ${esc(join(root, "system/demo/api.sops.yaml"))}${DENIED.source}`));
    });
    assert.equal(git(root, "status", "--porcelain", "--untracked-files=all"), "");
  });
});

Deno.test("a read-only repository: a new owner's secrets init says it cannot write .sops.yaml", async () => {
  await withTempDir(async (dir) => {
    const { run } = await setUp(dir);
    // A clone with no secrets yet: init only has to name the new owner in .sops.yaml.
    const fresh = await scratchRepo(join(dir, "fresh"));
    await copyTooling(fresh);
    const before = await Deno.readTextFile(join(fresh, ".sops.yaml"));
    await readOnly([fresh], async () => {
      const r = await run("secrets", ["init"], { cwd: fresh, env: { HOME: join(dir, "carol") } });
      assertParagraph(r, new RegExp(`cannot write ${esc(join(fresh, ".sops.yaml"))}${DENIED.source}`));
    });
    assert.equal(await Deno.readTextFile(join(fresh, ".sops.yaml")), before);
  });
});

Deno.test("a read-only HOME: secrets init says it cannot create the key's folder", async () => {
  await withTempDir(async (dir) => {
    const { run } = await setUp(dir);
    const home = join(dir, "dave");
    await Deno.mkdir(home);
    await readOnly([home], async () => {
      const r = await run("secrets", ["init"], { env: { HOME: home } });
      assertParagraph(r, new RegExp(`cannot create the folder ${esc(join(home, ".config"))}[^\\n]*${DENIED.source}`));
    });
  });
});

Deno.test("a read-only talos/: talos genconfig says it cannot write there", async () => {
  await withTempDir(async (dir) => {
    const { root, alice, run } = await setUp(dir);
    await new Deno.Command("cp", { args: ["-R", `${join(REPO, "talos")}/.`, join(root, "talos")] }).output();
    await Deno.remove(join(root, "talos", "clusterconfig"), { recursive: true }).catch(() => {});
    await writeTalosBundle(alice.ctx);
    const before = [...Deno.readDirSync(join(root, "talos"))].map((e) => e.name).sort();
    await readOnly([join(root, "talos")], async () => {
      const r = await run("talos", ["genconfig"]);
      assertParagraph(r, new RegExp(`cannot create a temporary folder in ${esc(join(root, "talos"))}${DENIED.source}`));
    });
    assert.deepEqual([...Deno.readDirSync(join(root, "talos"))].map((e) => e.name).sort(), before);
  });
});

Deno.test("render --out: a file, a path under a file, a read-only folder fail before rendering", async () => {
  await withTempDir(async (dir) => {
    const { run } = await setUp(dir);
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x\n");
    assertParagraph(
      await run("render", ["--out", file]),
      new RegExp(`cannot create the folder ${esc(file)}: a file of that name is in the way`),
    );
    assertParagraph(
      await run("render", ["--out", join(file, "out")]),
      new RegExp(`cannot create the folder ${esc(join(file, "out"))}: a part of the path is a file, not a folder`),
    );
    const folder = join(dir, "out");
    await Deno.mkdir(folder);
    await readOnly([folder], async () => {
      assertParagraph(
        await run("render", ["--out", folder]),
        new RegExp(`cannot write ${esc(folder)}/\\.render-\\w+\\.tmp${DENIED.source}`),
      );
    });
    assert.equal(await Deno.readTextFile(file), "x\n");
  });
});

Deno.test("operating-system errors of Deno and of node:fs become one paragraph naming the path", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "f");
    await Deno.writeTextFile(file, "");
    const deno = await Deno.readTextFile(dir).catch((e) => e);
    assert.deepEqual(describeOsError(deno), {
      message: `cannot read ${dir}: it is a folder, where a file is expected`,
      hint: `give the path of a file, not the folder ${dir}`,
    });
    const { mkdir } = await import("node:fs/promises");
    const node = await mkdir(join(file, "x")).catch((e) => e);
    assert.match(formatError(node), new RegExp(`^error: cannot create the folder ${esc(join(file, "x"))}: a part`));
    assert.doesNotMatch(formatError(node), /\n\s+at /);
    assert.match(formatError(node, true), /\n\s+at /, "DEBUG=1 still shows the stack");
    const renamed = await Deno.rename(join(dir, "nope"), join(dir, "b")).catch((e) => e);
    assert.match(describeOsError(renamed)!.message, new RegExp(`^cannot move ${esc(join(dir, "nope"))} to .*b: it`));
    assert.equal(describeOsError(new Error("a bug")), undefined);
    // Not the file system's: a refused connection is no "cannot write …".
    const refused = await Deno.connect({ hostname: "127.0.0.1", port: 1 }).catch((e) => e);
    assert.equal(refused.code, "ECONNREFUSED");
    assert.equal(describeOsError(refused), undefined);
  });
});

Deno.test({
  name: "secrets new that cannot update the README changes nothing: no secret, generator or kustomization entry",
  // Only the immutable flag refuses replacing one file in a writable folder; mode bits do not.
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { root, run } = await setUp(dir);
      const readme = join(root, "system/demo/README.md");
      await Deno.writeTextFile(readme, "# demo\n\n| Path | Purpose |\n| --- | --- |\n| `namespace.yaml` | it |\n");
      git(root, "add", "-A");
      git(root, "commit", "-q", "--no-verify", "-m", "readme");
      await readOnly([readme], async () => {
        const r = await run("secrets", ["new", "system/demo", "api"]);
        assertParagraph(r, new RegExp(`cannot write ${esc(readme)}${DENIED.source}`));
      });
      assert.equal(git(root, "status", "--porcelain", "--untracked-files=all"), "");
    });
  },
});
