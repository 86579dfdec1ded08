/**
 * Bad input a new owner types in the first hour: each gets one paragraph naming the file (and
 * line), what is wrong and how to fix it, a non-zero exit, and no stack trace. The tasks run as
 * processes inside a scratch repository holding a copy of the tooling.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { init, writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { checkSecrets } from "../lib/secrets/check.ts";
import { UsageError } from "../lib/errors.ts";
import { setRecipients } from "../lib/secrets/sopsconfig.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { assertParagraph, git, owner, taskRepo as setUp } from "./secrets_helpers.ts";

Deno.test("secrets decrypt/encrypt/edit of a file that is not a secret, or is malformed: one paragraph", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await setUp(dir);
    await Deno.writeTextFile(join(root, "README.md"), "# demo\n\n- a: [b\n");
    assertParagraph(await run("secrets", ["decrypt", "README.md"]), /README\.md: is not a secret file/);
    assertParagraph(await run("secrets", ["edit", "README.md"]), /README\.md: is not a secret file/);

    await Deno.writeTextFile(join(root, "system/demo/bad.sops.yaml"), "a: 1\nb: [unclosed\nc: 3\n");
    for (const sub of ["decrypt", "encrypt"]) {
      assertParagraph(
        await run("secrets", [sub, "system/demo/bad.sops.yaml"]),
        /bad\.sops\.yaml:\d+: is not valid YAML/,
      );
    }
  });
});

Deno.test("secrets check of a file that does not exist fails instead of saying ok", async () => {
  await withTempDir(async (dir) => {
    const { run } = await setUp(dir);
    const r = await run("secrets", ["check", "nope.sops.yaml"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nope\.sops\.yaml does not exist/);
    assert.doesNotMatch(r.stderr, /secrets check: ok/);
  });
});

Deno.test("secrets paths are taken from where the user stands; a path outside the repository is refused", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await setUp(dir);
    const inside = await run("secrets", ["check", "--no-decrypt", "db.sops.yaml"], {
      env: { INIT_CWD: join(root, "system", "demo") },
    });
    assert.equal(inside.code, 0, inside.stderr);
    await Deno.mkdir(join(dir, "elsewhere", "system", "x"), { recursive: true });
    await Deno.writeTextFile(join(dir, "elsewhere", "system", "x", "kustomization.yaml"), "kind: Kustomization\n");
    const outside = await run("secrets", ["new", "../elsewhere/system/x", "name"]);
    assertParagraph(outside, /'\.\.\/elsewhere\/system\/x' is not a component of this repository/, 2);
    assert.deepEqual([...Deno.readDirSync(join(dir, "elsewhere", "system", "x"))].map((e) => e.name), [
      "kustomization.yaml",
    ]);
    // The same kind of mistake as `new app Bad_Name`: a usage error, exit 2.
    assertParagraph(
      await run("secrets", ["new", "system/demo", "Bad_Name"]),
      /'Bad_Name' is not a valid Secret name/,
      2,
    );
  });
});

Deno.test("advice that works: a tampered file says restore, not edit; decrypt and edit of it say the same", async () => {
  await withTempDir(async (dir) => {
    const { root, alice, run } = await setUp(dir);
    const file = "system/demo/db.sops.yaml";
    const text = await Deno.readTextFile(join(root, file));
    await Deno.writeTextFile(join(root, file), text.replace("name: db", "name: dc"));
    const found = (await checkSecrets(alice.ctx)).filter((f) => f.file === file);
    assert.equal(found.length, 1);
    assert.match(found[0].reason, /changed after it was encrypted/);
    assert.match(found[0].fix, /git checkout -- system\/demo\/db\.sops\.yaml/);
    assert.doesNotMatch(found[0].fix, /secrets edit/);
    for (const sub of ["decrypt", "edit"]) {
      const r = await run("secrets", [sub, file], { env: { EDITOR: "true" } });
      assertParagraph(r, /db\.sops\.yaml: does not decrypt: its content was changed after it was encrypted/);
      assert.match(r.stderr, /hint: restore it from git/);
    }
  });
});

Deno.test("advice that works: an unencrypted *.sops.yaml no rule covers is not told to run encrypt", async () => {
  await withTempDir(async (dir) => {
    const { root, alice, run } = await setUp(dir);
    await Deno.writeTextFile(join(root, "talos/extra.sops.yaml"), "token: plain\n");
    const found = (await checkSecrets(alice.ctx, { decrypt: false })).filter((f) => f.file === "talos/extra.sops.yaml");
    assert.equal(found.length, 1);
    assert.doesNotMatch(found[0].fix, /secrets encrypt/);
    assert.match(found[0].fix, /move it there, or add a rule for it to \.sops\.yaml/);
    const r = await run("secrets", ["encrypt", "talos/extra.sops.yaml"]);
    assertParagraph(r, /extra\.sops\.yaml: matches no creation rule/);
    assert.match(r.stderr, /add a rule for it/);
  });
});

Deno.test("advice that works: a file encrypted for someone else is not told to run rotate", async () => {
  await withTempDir(async (dir) => {
    const { root } = await setUp(dir);
    // bob's clone: every file is alice's; bob has a key of his own but none of hers.
    const bob = await owner(dir, "bob", root);
    const report = await init(bob.ctx);
    assert.equal(report.locked.length, 2);
    // bob names himself in .sops.yaml by hand: the files now differ from their rule, and bob opens none.
    const config = join(root, ".sops.yaml");
    await Deno.writeTextFile(config, setRecipients(await Deno.readTextFile(config), { personal: report.personal }));
    const found = await checkSecrets(bob.ctx);
    const db = found.filter((f) => f.file === "system/demo/db.sops.yaml");
    assert.ok(db.length >= 1);
    for (const f of db) assert.doesNotMatch(f.fix, /^run `deno task secrets rotate`/, f.fix);
    assert.ok(db.some((f) => /secrets init --adopt/.test(f.fix)));
  });
});

Deno.test("init installs the pre-commit hook where git looks for it: an absolute core.hooksPath", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await setUp(dir);
    const hooks = join(dir, "shared-hooks");
    git(root, "config", "core.hooksPath", hooks);
    const lines: string[] = [];
    const { initCommand } = await import("../lib/tasks/secrets.ts");
    assert.equal(await initCommand({ ...alice.ctx, ui: { ...alice.ctx.ui, info: (l) => lines.push(l) } }, {}), 0);
    assert.ok(lines.some((l) => /installed the git pre-commit hook/.test(l)), lines.join("\n"));
    assert.match(await Deno.readTextFile(join(hooks, "pre-commit")), /tasks\/secrets\.ts check --staged/);
    await assert.rejects(Deno.stat(join(root, hooks)), Deno.errors.NotFound);
  });
});

Deno.test("talos schematic FILE is read from where the user stands, or as an absolute path", async () => {
  await withTempDir(async (dir) => {
    const { root, alice, run } = await setUp(dir);
    await new Deno.Command("cp", { args: ["-R", `${join(REPO, "talos")}/.`, join(root, "talos")] }).output();
    await Deno.remove(join(root, "talos", "clusterconfig"), { recursive: true }).catch(() => {});
    await writeTalosBundle(alice.ctx);
    const mine = join(dir, "mine.yaml");
    await Deno.copyFile(join(root, "talos", "schematic.yaml"), mine);
    const absolute = await run("talos", ["schematic", "--json", mine]);
    assert.equal(absolute.code, 0, absolute.stderr);
    const relative = await run("talos", ["schematic", "--json", "mine.yaml"], { env: { INIT_CWD: dir } });
    assert.equal(relative.code, 0, relative.stderr);
    assert.equal(JSON.parse(relative.stdout).id, JSON.parse(absolute.stdout).id);
    const missing = await run("talos", ["schematic", "nope.yaml"], { env: { INIT_CWD: dir } });
    assertParagraph(missing, new RegExp(`${join(dir, "nope.yaml")}: does not exist`));
    assert.doesNotMatch(missing.stderr, /restore it from git/);
  });
});

Deno.test("talos apply --mode is checked before talosctl runs", async () => {
  await withTempDir(async (dir) => {
    const { run } = await setUp(dir);
    const r = await run("talos", ["apply", "--mode", "bogus"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /'bogus' is invalid.*auto, no-reboot, reboot, staged, try/s);
  });
});

Deno.test("new app: an empty --purpose, a missing or listless components.json are one paragraph each", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await setUp(dir);
    await Deno.mkdir(join(root, "root"));
    assertParagraph(await run("new", ["app", "demo", "--purpose", ""]), /--purpose is empty/, 2);
    assertParagraph(await run("new", ["app", "demo"]), /root\/components\.json: is missing/);
    await Deno.writeTextFile(join(root, "root/components.json"), `{"system": [], "platform": []}\n`);
    assertParagraph(await run("new", ["app", "demo"]), /root\/components\.json: has no "apps" list/);
    await assert.rejects(Deno.stat(join(root, "apps/demo")), Deno.errors.NotFound);
  });
});

Deno.test("new app adds its entry to components.json and leaves the rest of the file byte for byte", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await setUp(dir);
    await Deno.mkdir(join(root, "root"));
    const before = await Deno.readTextFile(join(REPO, "root/components.json"));
    assert.ok(before.includes("\\u2192"), "the real file has an escaped character");
    await Deno.writeTextFile(join(root, "root/components.json"), before);
    const r = await run("new", ["app", "photos", "--purpose", "a photo library"]);
    assert.equal(r.code, 0, r.stderr);
    const after = await Deno.readTextFile(join(root, "root/components.json"));
    const list = JSON.parse(after);
    assert.deepEqual(list.apps.at(-1), { name: "photos", namespace: "photos", wave: 20, purpose: "a photo library" });
    // Everything but the added lines is unchanged.
    const removed = before.split("\n").filter((l) => !after.split("\n").includes(l));
    assert.deepEqual(removed.filter((l) => !/"apps": \[\]/.test(l)), []);
    assert.ok(after.includes("\\u2192"));
  });
});

Deno.test("init --adopt says what replacing the Talos bundle and Argo CD key means and asks; --yes for scripts", async () => {
  await withTempDir(async (dir) => {
    const { root: origin, alice } = await setUp(dir);
    await writeTalosBundle(alice.ctx);
    git(origin, "add", "-A");
    git(origin, "commit", "-q", "--no-verify", "-m", "bundle");
    const root = join(dir, "clone");
    git(dir, "clone", "-q", origin, root);
    const bob = await owner(dir, "bob", root);
    const files = [".sops.yaml", "talos/talsecret.sops.yaml", "system/argocd/sops-age.sops.yaml"];
    const read = () => Promise.all(files.map((f) => Deno.readTextFile(join(root, f))));
    const before = await read();
    const { initCommand } = await import("../lib/tasks/secrets.ts");
    const { consoleUi } = await import("../lib/ui.ts");

    const asked: string[] = [];
    const said: string[] = [];
    const ui = (answer: boolean) => consoleUi({ write: (t) => said.push(t), answer: (q) => (asked.push(q), answer) });
    const refused = await initCommand({ ...bob.ctx, ui: ui(false) }, { adopt: true }).then(() => undefined, (e) => e);
    assert.ok(refused instanceof UsageError, String(refused));
    assert.match(refused.hint ?? "", /--adopt --yes/);
    assert.equal(asked.length, 1);
    assert.match(said.join(""), /talsecret\.sops\.yaml: a new Talos secret bundle means new cluster CAs/);
    assert.match(said.join(""), /sops-age\.sops\.yaml: a new Argo CD key/);
    assert.deepEqual(await read(), before, "refused, nothing was replaced");

    asked.length = 0;
    said.length = 0;
    assert.equal(await initCommand({ ...bob.ctx, ui: ui(false) }, { adopt: true, yes: true }), 0);
    assert.deepEqual(asked, [], "--yes asks nothing");
    assert.notDeepEqual(await read(), before);
    assert.match(said.join(""), /commit the re-created files: git add \.sops\.yaml .*talsecret\.sops\.yaml/);
    assert.match(said.join(""), /site\.yaml, then `deno task configure`/, "adopting points at configure");
  });
});
