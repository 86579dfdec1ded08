import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../config.ts";
import { kustomizationRoots } from "../stacks.ts";
import { Digester, keyFingerprint, OUTPUT_ANNOTATION, STAND_IN, writeStandIn } from "./ksops.ts";
import { AGE_KEY_PREFIX } from "../secrets/keys.ts";

const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Every KSOPS generator file in the stacks. */
async function generators(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of await kustomizationRoots(REPO)) {
    const k = parseYaml(await Deno.readTextFile(join(REPO, dir, "kustomization.yaml"))) as { generators?: string[] };
    for (const g of k.generators ?? []) {
      const file = join(dir, g);
      const gen = parseYaml(await Deno.readTextFile(join(REPO, file))) as { kind?: string };
      if (gen?.kind === "ksops") found.push(file);
    }
  }
  return found;
}

Deno.test("KSOPS generators keep the format ksops v4 reads", async () => {
  const files = await generators();
  assert.ok(files.length > 0, "the stacks have KSOPS generators");
  for (const file of files) {
    const g = parseYaml(await Deno.readTextFile(join(REPO, file))) as Record<string, unknown>;
    // ksops v4.5.1 (ksops.go): `type ksops struct { Files []string; SecretFrom []secretFrom }`, run by
    // kustomize as a KRM exec function named by the config.kubernetes.io/function annotation.
    assert.equal(g.apiVersion, "viaduct.ai/v1", file);
    assert.equal(g.kind, "ksops", file);
    const meta = g.metadata as { name?: string; annotations?: Record<string, string> };
    assert.ok(meta?.name, `${file}: metadata.name`);
    const fn = parseYaml(meta.annotations?.["config.kubernetes.io/function"] ?? "") as { exec?: { path?: string } };
    assert.equal(fn?.exec?.path, "ksops", `${file}: exec path`);
    assert.ok(Array.isArray(g.files) && g.files.length > 0, `${file}: files`);
    for (const f of g.files as unknown[]) {
      assert.equal(typeof f, "string", `${file}: files are strings`);
      assert.match(f as string, /\.sops\.ya?ml$/, `${file}: ${f}`);
      await Deno.stat(join(REPO, file, "..", f as string));
    }
    assert.deepEqual(
      Object.keys(g).filter((k) => !["apiVersion", "kind", "metadata", "files", "secretFrom"].includes(k)),
      [],
      `${file}: only fields ksops reads`,
    );
  }
});

Deno.test("the ksops stand-in prints the output named on its generator", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    await writeStandIn(join(dir, "bin"));
    assert.equal(await Deno.readTextFile(join(dir, "bin", "ksops")), STAND_IN);
    const out = join(dir, "out.yaml");
    await Deno.writeTextFile(out, "kind: ResourceList\nitems: []\n");
    const stdin = `apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: viaduct.ai/v1\n` +
      `  kind: ksops\n  metadata:\n    name: g\n    annotations:\n      ${OUTPUT_ANNOTATION}: ${out}\n`;
    const run = async (input: string) => {
      const p = new Deno.Command(join(dir, "bin", "ksops"), { stdin: "piped", stdout: "piped", stderr: "piped" })
        .spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
      const o = await p.output();
      return { code: o.code, stdout: new TextDecoder().decode(o.stdout), stderr: new TextDecoder().decode(o.stderr) };
    };
    const ok = await run(stdin);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "kind: ResourceList\nitems: []\n");
    const bad = await run(stdin.replace(OUTPUT_ANNOTATION, "other/annotation"));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not prepared by the render/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secret digests are stable per salt and differ between salts", async () => {
  const a = new Digester(new Uint8Array(32).fill(1));
  const b = new Digester(new Uint8Array(32).fill(2));
  assert.equal(await a.digest("hunter2"), await a.digest("hunter2"));
  assert.match(await a.digest("hunter2"), /^sha256:[0-9a-f]{16}$/);
  assert.notEqual(await a.digest("hunter2"), await a.digest("hunter3"));
  assert.notEqual(await a.digest("hunter2"), await b.digest("hunter2"));
});

Deno.test("keyFingerprint: the age keys at hand, wherever sops finds them, and only the keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    // Made-up keys of the right shape (no key is checked here, only told apart).
    const one = `${AGE_KEY_PREFIX}1${"Q".repeat(58)}`;
    const two = `${AGE_KEY_PREFIX}1${"P".repeat(58)}`;
    const config = (env: Record<string, string>) =>
      loadConfig({ HOME: dir, XDG_CONFIG_HOME: join(dir, "cfg"), ...env });
    const file = join(dir, "keys.txt");
    const none = await keyFingerprint(config({}));
    assert.equal(none, "no-key");
    await Deno.writeTextFile(file, `# created: 2026-01-01\n# public key: age1xyz\n${one}\n`);
    const withOne = await keyFingerprint(config({ SOPS_AGE_KEY_FILE: file }));
    assert.notEqual(withOne, none);
    // The same key in SOPS_AGE_KEY, or in sops' default file: the same keys at hand.
    assert.equal(await keyFingerprint(config({ SOPS_AGE_KEY: one })), withOne);
    await Deno.mkdir(join(dir, "cfg", "sops", "age"), { recursive: true });
    await Deno.writeTextFile(join(dir, "cfg", "sops", "age", "keys.txt"), `${one}\n`);
    assert.equal(await keyFingerprint(config({})), withOne);
    assert.equal(await keyFingerprint(config({ SOPS_AGE_KEY: one, SOPS_AGE_KEY_FILE: file })), withOne);
    // One more key anywhere: other keys at hand, in whatever order they come.
    const both = await keyFingerprint(config({ SOPS_AGE_KEY: two }));
    assert.notEqual(both, withOne);
    await Deno.writeTextFile(file, `${two}\n${one}\n`);
    assert.equal(await keyFingerprint(config({ SOPS_AGE_KEY_FILE: file })), both);
    // Identities sops also takes: from a key command, and SSH private keys (named, or in ~/.ssh).
    await Deno.remove(join(dir, "cfg"), { recursive: true });
    assert.equal(await keyFingerprint(config({})), none);
    const seen = new Set([none]);
    const differs = async (env: Record<string, string>, what: string) => {
      const fp = await keyFingerprint(config(env));
      assert.ok(!seen.has(fp), what);
      seen.add(fp);
    };
    await differs({ SOPS_AGE_KEY_CMD: "pass show age" }, "a key command");
    await differs({ SOPS_AGE_KEY_CMD: "pass show age-2" }, "another key command");
    await differs({ SOPS_AGE_SSH_PRIVATE_KEY_CMD: "pass show ssh" }, "an SSH key command");
    await Deno.mkdir(join(dir, ".ssh"));
    await Deno.writeTextFile(join(dir, ".ssh", "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n");
    await differs({}, "~/.ssh/id_ed25519");
    await Deno.writeTextFile(join(dir, ".ssh", "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\nBBBB\n");
    await differs({}, "another ~/.ssh/id_ed25519");
    await Deno.writeTextFile(join(dir, ".ssh", "id_rsa"), "-----BEGIN RSA PRIVATE KEY-----\nCCCC\n");
    await differs({}, "~/.ssh/id_rsa besides");
    await Deno.writeTextFile(join(dir, "deploy_key"), "-----BEGIN OPENSSH PRIVATE KEY-----\nDDDD\n");
    await differs({ SOPS_AGE_SSH_PRIVATE_KEY_FILE: join(dir, "deploy_key") }, "SOPS_AGE_SSH_PRIVATE_KEY_FILE");
    // The fingerprint holds no key.
    assert.ok(!both.includes("AGE-SECRET-KEY") && /^[0-9a-f]{64}$/.test(both));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
