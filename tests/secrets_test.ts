/**
 * The secret life cycle with the real sops, age and talhelper, keys made by the tests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { secret } from "../lib/cmd.ts";
import { checkSecrets, type Finding } from "../lib/secrets/check.ts";
import { initCommand } from "../lib/tasks/secrets.ts";
import { decryptFile, init, KeyPathError, newSecret, rotate, writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { parseKeys } from "../lib/secrets/keys.ts";
import { sopsOf } from "../lib/secrets/context.ts";
import { HOOK_MARKER } from "../lib/secrets/lifecycle.ts";
import { readSopsConfig } from "../lib/secrets/sopsconfig.ts";
import { fakeTool, REPO, withTempDir } from "./helpers.ts";
import { unlistedInReadme } from "../lib/readme.ts";
import { checkKustomization } from "../lib/check/stacks.ts";
import { newApp } from "../lib/scaffold.ts";
import { HomelabError } from "../lib/errors.ts";
import { git, keyOf, newKey, owner, scratchRepo, sopsWithKey } from "./secrets_helpers.ts";
import { PATHS } from "../lib/repo.ts";

const errors = (fs: Finding[]) => fs.filter((f) => f.level === "error");

/** An initialised repository: owner A's keys, a stack secret, the Talos bundle; all committed. */
async function setUp(dir: string) {
  const root = await scratchRepo(dir);
  const a = await owner(dir, "alice", root);
  await init(a.ctx);
  await newSecret(a.ctx, "system/demo", "db");
  await writeTalosBundle(a.ctx);
  git(root, "add", "-A");
  git(root, "commit", "-q", "--no-verify", "-m", "secrets");
  const argocdKey = secret(parseKeys((await sopsOf(a.ctx).decrypt(PATHS.argocdKey)).reveal())[0]);
  return { root, a, argocdKey, personalKey: await keyOf(a.keyFile) };
}

Deno.test("init on a fresh clone makes both keys, writes .sops.yaml, installs the hook; again, it changes nothing", async () => {
  await withTempDir(async (dir) => {
    const root = await scratchRepo(dir);
    const a = await owner(dir, "alice", root);
    const before = await Deno.readTextFile(join(root, ".sops.yaml"));

    const r = await init(a.ctx);
    assert.equal(r.createdKey, a.keyFile);
    assert.equal((await Deno.stat(a.keyFile)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(join(a.keyFile, ".."))).mode! & 0o777, 0o700);
    assert.ok(r.argocdCreated && r.configChanged && r.hook === "installed");

    const config = await readSopsConfig(root);
    assert.equal(config.personal, r.personal);
    assert.equal(config.argocd, r.argocd);
    assert.notEqual(config.personal, config.argocd);
    // Comments and rules survive; only the two anchor values changed.
    const changed = before.split("\n").filter((l, i) => l !== config.text.split("\n")[i]);
    assert.equal(changed.length, 2);
    assert.match(config.text, /^# Who can decrypt which files\./m);
    assert.match(config.text, /# The Talos cluster secrets bundle: the owner only/);

    const hookDir = git(root, "rev-parse", "--git-path", "hooks").trim();
    const hook = join(root, hookDir, "pre-commit");
    assert.ok((await Deno.readTextFile(hook)).includes(HOOK_MARKER));
    assert.equal((await Deno.stat(hook)).mode! & 0o111, 0o111);

    // The Argo CD key is in the repository, encrypted for the personal key only.
    const argocdFile = await Deno.readTextFile(join(root, PATHS.argocdKey));
    assert.doesNotMatch(argocdFile, /AGE-SECRET-KEY-/);
    const argocdKey = secret(parseKeys((await sopsOf(a.ctx).decrypt(PATHS.argocdKey)).reveal())[0]);
    assert.equal((await sopsWithKey(root, argocdKey, "decrypt", PATHS.argocdKey)).ok, false);

    const snapshot = async () => [
      await Deno.readTextFile(join(root, ".sops.yaml")),
      await Deno.readTextFile(join(root, PATHS.argocdKey)),
      await Deno.readTextFile(hook),
    ];
    const first = await snapshot();
    const again = await init(a.ctx);
    assert.equal(again.changed, false);
    assert.deepEqual(await snapshot(), first);
  });
});

Deno.test("a stack secret opens with both recipients; the Talos bundle with the personal key only", async () => {
  await withTempDir(async (dir) => {
    const { root, argocdKey, personalKey } = await setUp(dir);
    const file = "system/demo/db.sops.yaml";
    for (const key of [personalKey, argocdKey]) {
      const r = await sopsWithKey(root, key, "decrypt", file);
      assert.ok(r.ok, r.err);
      assert.deepEqual(parse(r.out).stringData, { value: "REPLACE-ME" });
    }
    const text = await Deno.readTextFile(join(root, file));
    assert.match(text, /^kind: Secret$/m, "structure stays readable");
    assert.match(text, /value: ENC\[AES256_GCM,/);

    const multi = await newSecret((await owner(dir, "alice", root)).ctx, "system/demo", "admin", ["user", "password"]);
    assert.deepEqual(parse((await sopsWithKey(root, argocdKey, "decrypt", multi)).out).stringData, {
      user: "REPLACE-ME",
      password: "REPLACE-ME",
    });
    const generatorFiles = parse(await Deno.readTextFile(join(root, "system/demo/secret-generator.yaml"))).files;
    assert.deepEqual(generatorFiles, ["./db.sops.yaml", "./admin.sops.yaml"]);

    const bundle = await sopsWithKey(root, personalKey, "decrypt", PATHS.talosBundle);
    assert.ok(bundle.ok, bundle.err);
    assert.ok(parse(bundle.out).secrets?.bootstraptoken, "a talhelper secret bundle");
    assert.equal((await sopsWithKey(root, argocdKey, "decrypt", PATHS.talosBundle)).ok, false);

    // The KSOPS generator is wired into the component, comments kept.
    const kustomization = await Deno.readTextFile(join(root, "system/demo/kustomization.yaml"));
    assert.deepEqual(parse(kustomization).generators, ["./secret-generator.yaml"]);
    assert.match(kustomization, /# demo component/);
    assert.match(kustomization, /namespace\.yaml # the namespace/);
  });
});

Deno.test("check passes a clean tree and catches each kind of leak, naming file, line and fix", async () => {
  await withTempDir(async (dir) => {
    const { root, a } = await setUp(dir);
    assert.deepEqual(await checkSecrets(a.ctx), []);

    await Deno.writeTextFile(
      join(root, "system/demo/leak.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData:\n  password: hunter2\n",
    );
    await Deno.writeTextFile(
      join(root, "system/demo/plain.sops.yaml"),
      "apiVersion: v1\nkind: Secret\nstringData:\n  a: b\n",
    );
    const key = (await newKey()).key.reveal();
    await Deno.writeTextFile(join(root, "notes.md"), `# notes\n\nmy key:\n${key}\n`);
    const db = join(root, "system/demo/db.sops.yaml");
    const text = await Deno.readTextFile(db);
    const i = text.indexOf("value: ENC[AES256_GCM,data:") + "value: ENC[AES256_GCM,data:".length;
    await Deno.writeTextFile(db, text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1));

    const found = errors(await checkSecrets(a.ctx));
    const by = (file: string) => found.filter((f) => f.file === file);
    assert.equal(by("system/demo/leak.yaml")[0]?.line, 10, "the line of stringData");
    assert.match(by("system/demo/leak.yaml")[0].reason, /plaintext Secret 'oops'/);
    assert.match(by("system/demo/plain.sops.yaml")[0].reason, /not encrypted \(no sops metadata\)/);
    assert.match(by("system/demo/plain.sops.yaml")[0].fix, /secrets encrypt system\/demo\/plain\.sops\.yaml/);
    assert.equal(by("notes.md")[0]?.line, 4);
    assert.match(by("notes.md")[0].reason, /age private key/);
    assert.match(by("system/demo/db.sops.yaml")[0]?.reason ?? "", /changed after it was encrypted/);
    assert.equal(found.length, 4);
    for (const f of found) assert.ok(!`${f.reason}${f.fix}`.includes(key) && !f.reason.includes("hunter2"));
  });
});

Deno.test("rotate: an added recipient can decrypt every file; removed with --data-key, it can no longer", async () => {
  await withTempDir(async (dir) => {
    const { root, a } = await setUp(dir);
    const third = await newKey();
    const config = join(root, ".sops.yaml");
    const original = await Deno.readTextFile(config);
    const withThird = original
      .replace(/^(\s+- &argocd .*)$/m, `$1\n  - &third ${third.recipient}`)
      .replaceAll("      - *personal\n", "      - *personal\n      - *third\n");
    await Deno.writeTextFile(config, withThird);

    const tmp = await Deno.realPath(Deno.env.get("TMPDIR") || "/tmp");
    const scratch = () => [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.startsWith("homelab-onekey-"));
    const scratchBefore = scratch();
    const added = await rotate(a.ctx);
    // Verifying with one key at a time leaves no scratch directory behind.
    assert.deepEqual(scratch().filter((n) => !scratchBefore.includes(n)), []);
    assert.equal(added.length, 3);
    for (const r of added) {
      assert.deepEqual(r.added, [third.recipient], r.file);
      assert.ok(r.verified.includes((await readSopsConfig(root)).personal!), r.file);
      assert.deepEqual(r.unverified, [third.recipient]);
      assert.ok((await sopsWithKey(root, third.key, "decrypt", r.file)).ok, `third cannot open ${r.file}`);
    }
    const stack = added.find((r) => r.file === "system/demo/db.sops.yaml")!;
    assert.equal(stack.verified.length, 2, "personal and Argo CD verified");

    await Deno.writeTextFile(config, original);
    const removed = await rotate(a.ctx, { dataKey: true });
    for (const r of removed) {
      assert.deepEqual(r.removed, [third.recipient]);
      assert.equal(r.dataKey, true);
      assert.equal((await sopsWithKey(root, third.key, "decrypt", r.file)).ok, false, `third still opens ${r.file}`);
    }
    assert.deepEqual(errors(await checkSecrets(a.ctx)), []);
  });
});

Deno.test("a file encrypted for a key you do not hold: the error names file, recipients, keys found and where", async () => {
  await withTempDir(async (dir) => {
    const { root } = await setUp(dir);
    const bob = await owner(dir, "bob", root, { SOPS_AGE_KEY_FILE: join(dir, "bob-keys.txt") });
    const bobKey = await newKey();
    await Deno.writeTextFile(join(dir, "bob-keys.txt"), `${bobKey.key.reveal()}\n`);
    const personal = (await readSopsConfig(root)).personal!;

    const err = await decryptFile(bob.ctx, PATHS.talosBundle).then(() => undefined, (e) => e);
    assert.ok(err instanceof KeyPathError);
    assert.match(err.message, new RegExp(`^talos/talsecret\\.sops\\.yaml is encrypted for ${personal}, but none`));
    assert.match(err.message, new RegExp(`keys found: ${bobKey.recipient}`));
    assert.ok(err.message.includes(`SOPS_AGE_KEY_FILE=${join(dir, "bob-keys.txt")} (${bobKey.recipient})`));
    assert.ok(err.message.includes(`SOPS_AGE_KEY (unset)`));
    assert.ok(err.message.includes(`${bob.config.defaultAgeKeyFile} (does not exist)`));
    assert.match(err.hint ?? "", /SOPS_AGE_KEY_FILE.*secrets init --adopt/);
    assert.ok(!err.message.includes(bobKey.key.reveal()));
  });
});

Deno.test("init on a clone encrypted for other keys lists them; --adopt leaves every file decryptable by the new owner", async () => {
  await withTempDir(async (dir) => {
    const { root: origin } = await setUp(dir);
    const root = join(dir, "clone");
    git(dir, "clone", "-q", origin, root);
    const bob = await owner(dir, "bob", root);
    const files = ["system/demo/db.sops.yaml", PATHS.talosBundle, PATHS.argocdKey];
    const read = () => Promise.all([".sops.yaml", ...files].map((f) => Deno.readTextFile(join(root, f))));
    const before = await read();

    assert.equal(await initCommand(bob.ctx, {}), 1);
    const listed = await init(bob.ctx);
    assert.deepEqual(listed.locked.map((f) => f.file).sort(), [...files].sort());
    assert.deepEqual(await read(), before, "without --adopt nothing is touched");
    const warnings = (await checkSecrets(bob.ctx)).filter((f) => f.level === "warning");
    assert.equal(warnings.length, 3);
    assert.match(warnings[0].reason, /unverifiable here: encrypted for age1/);
    assert.deepEqual(errors(await checkSecrets(bob.ctx)), []);

    const adopted = await init(bob.ctx, { adopt: true });
    assert.deepEqual(Object.fromEntries(adopted.adopted.map((x) => [x.file, x.how])), {
      "system/demo/db.sops.yaml": "skeleton",
      [PATHS.talosBundle]: "regenerated",
      [PATHS.argocdKey]: "regenerated",
    });
    const bobKey = await keyOf(bob.keyFile);
    for (const f of files) assert.ok((await sopsWithKey(root, bobKey, "decrypt", f)).ok, `bob cannot open ${f}`);
    assert.deepEqual(await checkSecrets(bob.ctx), []);
    const skeleton = parse((await sopsWithKey(root, bobKey, "decrypt", files[0])).out);
    assert.deepEqual(skeleton.stringData, { value: "REPLACE-ME" });
    assert.equal(skeleton.metadata.name, "db");
    assert.equal((await init(bob.ctx)).changed, false);
  });
});

Deno.test("check --staged judges the staged content, not the work tree", async () => {
  await withTempDir(async (dir) => {
    const root = await scratchRepo(dir);
    const { ctx } = await owner(dir, "alice", root);
    const leak = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: oops\nstringData:\n  password: hunter2\n";
    const clean = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oops\ndata:\n  note: nothing secret\n";

    // Staged plaintext, then cleaned in the work tree without staging: the commit would still carry it.
    await Deno.writeTextFile(join(root, "system/demo/leak.yaml"), leak);
    git(root, "add", "system/demo/leak.yaml");
    await Deno.writeTextFile(join(root, "system/demo/leak.yaml"), clean);
    const staged = errors(await checkSecrets(ctx, { staged: true }));
    assert.deepEqual(staged.map((f) => [f.file, f.line]), [["system/demo/leak.yaml", 5]], "judged the work tree");
    assert.match(staged[0].reason, /plaintext Secret 'oops'/);

    // Staged, then deleted from the work tree: still in the commit, still refused.
    await Deno.remove(join(root, "system/demo/leak.yaml"));
    assert.equal(errors(await checkSecrets(ctx, { staged: true })).length, 1, "a staged file gone from the work tree");

    // The other way round: a clean staged file is let through whatever the work tree holds,
    // and files that are not staged are not judged.
    await Deno.writeTextFile(join(root, "system/demo/leak.yaml"), clean);
    git(root, "add", "system/demo/leak.yaml");
    await Deno.writeTextFile(join(root, "system/demo/leak.yaml"), leak);
    await Deno.writeTextFile(join(root, "system/demo/untracked.yaml"), leak);
    assert.deepEqual(errors(await checkSecrets(ctx, { staged: true })), []);
    assert.equal(errors(await checkSecrets(ctx, { decrypt: false })).length, 2, "the full check sees the work tree");
  });
});

Deno.test("rotate fails, naming file and recipient, when a file does not open with a recipient's key afterwards", async () => {
  await withTempDir(async (dir) => {
    const { root, a, argocdKey, personalKey } = await setUp(dir);
    const argocd = (await readSopsConfig(root)).argocd!;
    // A sops whose updatekeys wraps the data key badly for Argo CD: one line of its stanza is damaged.
    const realSops = await a.ctx.runner.resolve("sops");
    const bad = await fakeTool(
      join(dir, "bin"),
      "sops",
      `"${realSops}" "$@" || exit $?
[ "$1" = updatekeys ] || exit 0
file="\${@: -1}"
awk -v r="${argocd}" '
  NR == FNR && /BEGIN AGE ENCRYPTED FILE/ { begin = FNR }
  NR == FNR && index($0, "recipient: " r) { target = begin + 2 }
  NR == FNR { next }
  FNR == target { c = substr($0, 20, 1); $0 = substr($0, 1, 19) (c == "A" ? "B" : "A") substr($0, 21) }
  { print }' "$file" "$file" > "$file.bad" && mv "$file.bad" "$file"`,
    );
    const runner = a.ctx.runner.with({ resolve: (t) => t === "sops" ? Promise.resolve(bad) : a.ctx.runner.resolve(t) });
    const ctx = { ...a.ctx, runner };
    // Verifying with one key at a time leaves no scratch directory, whatever the outcome. (Looked
    // for by name in the real temporary directory: TMPDIR is process-wide, and test files run in
    // parallel in one process, so it is not changed here.)
    const tmp = await Deno.realPath(Deno.env.get("TMPDIR") || "/tmp");
    const scratch = () => [...Deno.readDirSync(tmp)].map((e) => e.name).filter((n) => n.startsWith("homelab-onekey-"));
    const before = scratch();
    const good = await rotate(a.ctx);
    assert.ok(good.every((r) => r.verified.length > 0));
    assert.deepEqual(scratch().filter((n) => !before.includes(n)), [], "a verified rotation left scratch dirs");
    const err = await rotate(ctx).then(() => undefined, (e) => e);
    assert.deepEqual(scratch().filter((n) => !before.includes(n)), [], "a failed rotation left scratch dirs");

    assert.ok(err instanceof HomelabError, `rotate succeeded: ${JSON.stringify(err)}`);
    assert.match(err.message, new RegExp(`^system/demo/db\\.sops\\.yaml does not open with the key of ${argocd}`));
    assert.match(err.hint ?? "", /restore the file from git/);
    // The damage is real: Argo CD's key no longer opens the file, the owner's still does.
    const file = "system/demo/db.sops.yaml";
    assert.equal((await sopsWithKey(root, argocdKey, "decrypt", file)).ok, false);
    assert.ok((await sopsWithKey(root, personalKey, "decrypt", file)).ok);
  });
});

Deno.test("`new app` then `secrets new` in it: the README table lists each new file, and the tree passes its checks", async () => {
  await withTempDir(async (dir) => {
    const root = await scratchRepo(dir);
    await Deno.mkdir(join(root, "root"));
    await Deno.copyFile(join(REPO, "root/components.json"), join(root, "root/components.json"));
    const a = await owner(dir, "alice", root);
    await init(a.ctx);
    await newApp(root, "photos", "a photo library");
    await newSecret(a.ctx, "apps/photos", "db");
    await newSecret(a.ctx, "apps/photos", "s3");
    assert.deepEqual(await unlistedInReadme(root, "apps/photos"), []);
    const readme = await Deno.readTextFile(join(root, "apps/photos/README.md"));
    assert.equal(readme.match(/`secret-generator\.yaml`/g)?.length, 1, readme);
    assert.match(readme, /^\| `db\.sops\.yaml` +\| the `db` Secret, encrypted;/m);
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", "--config", join(REPO, "deno.json"), join(root, "apps/photos/README.md")],
    }).output();
    assert.ok(fmt.success, `deno fmt --check: ${new TextDecoder().decode(fmt.stderr)}`);
    assert.deepEqual(await checkKustomization(root, "apps/photos"), []);
  });
});
