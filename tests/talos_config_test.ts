/**
 * talconfig checks on fixtures, the schematic drift check, gensecret and genconfig with the real
 * talhelper, sops and age.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { InputError } from "../lib/errors.ts";
import { KeyPathError } from "../lib/secrets/lifecycle.ts";
import { init } from "../lib/secrets/lifecycle.ts";
import { genconfig, gensecret, loadTalconfig, schematicReport } from "../lib/talos/config.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { git, keyOf, owner, scratchRepo, sopsWithKey } from "./secrets_helpers.ts";
import { CLUSTER, SITE } from "./site_values.ts";
import { PATHS } from "../lib/repo.ts";

const FIXTURES = join(REPO, "tests", "fixtures", "talconfig");

/** A scratch repository holding a copy of the real talos/ folder, initialised for alice. */
async function talosRepo(dir: string) {
  const root = await scratchRepo(dir);
  await new Deno.Command("cp", { args: ["-R", `${join(REPO, "talos")}/.`, join(root, "talos")] }).output();
  // A new owner's repository: no generated configs, and no bundle of the previous owner.
  await Deno.remove(join(root, PATHS.talosOut), { recursive: true }).catch(() => {});
  await Deno.remove(join(root, PATHS.talosBundle)).catch(() => {});
  await Deno.copyFile(join(REPO, ".gitignore"), join(root, ".gitignore"));
  const alice = await owner(dir, "alice", root);
  await init(alice.ctx);
  return { root, alice };
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("every invalid talconfig fixture is rejected with its own message and nothing is written", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await talosRepo(dir);
    await Deno.copyFile(join(FIXTURES, "talenv.yaml"), join(root, PATHS.talenv));
    await gensecret(alice.ctx);
    const fixtures = [...Deno.readDirSync(join(FIXTURES, "invalid"))].map((e) => e.name).sort();
    assert.ok(fixtures.length >= 8, `${fixtures.length} fixtures`);
    for (const name of fixtures) {
      const text = await Deno.readTextFile(join(FIXTURES, "invalid", name));
      const expected = /^# rejected by: [^:]+: (.+)$/m.exec(text.split("\n")[0])?.[1];
      assert.ok(expected, `${name} does not start with '# rejected by: CHECK: MESSAGE'`);
      await Deno.writeTextFile(join(root, PATHS.talconfig), text);
      const before = await listing(join(root, "talos"));
      const err = await genconfig(alice.ctx).then(() => undefined, (e) => e);
      assert.ok(err instanceof InputError, `${name}: ${err}`);
      assert.ok(err.message.startsWith(`${PATHS.talconfig}: has `), `${name}: ${err.message}`);
      assert.ok(err.message.includes(expected), `${name}: expected "${expected}" in\n${err.message}`);
      assert.deepEqual(await listing(join(root, "talos")), before, `${name}: something was written`);
    }
  });
});

Deno.test("the valid fixtures (the repository's own, and one with a worker) pass", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await talosRepo(dir);
    await Deno.copyFile(join(FIXTURES, "talenv.yaml"), join(root, PATHS.talenv));
    for (const name of ["repository.yaml", "with-worker.yaml"]) {
      await Deno.copyFile(join(FIXTURES, "valid", name), join(root, PATHS.talconfig));
      const config = await loadTalconfig(alice.ctx);
      assert.equal(config.clusterName, "homelab");
    }
    const config = await loadTalconfig(alice.ctx);
    assert.deepEqual(config.nodes.map((n) => [n.hostname, n.controlPlane]), [
      ["node-1", true],
      ["node-2", true],
      ["node-3", true],
      ["worker-1", false],
    ]);
  });
});

Deno.test("schematic: the ID of schematic.yaml, and drift between talconfig and schematic.yaml", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await talosRepo(dir);
    const report = await schematicReport(alice.ctx);
    assert.equal(report.id, "9c4964a2abdf6ef1fd114d60d37dd8288a37731d839860169e456ec7b9ff590e");
    assert.deepEqual(report.drift, []);
    assert.equal(report.installer, `factory.talos.dev/metal-installer-secureboot/${report.id}:${report.talosVersion}`);

    const path = join(root, PATHS.schematic);
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)).replace("      - siderolabs/i915\n", ""));
    const drifted = await schematicReport(alice.ctx);
    assert.equal(drifted.drift.length, 3);
    assert.match(drifted.drift[0], /node 'node-1': its schematic differs from talos\/schematic\.yaml/);
  });
});

Deno.test("gensecret → encrypted bundle → genconfig of the real talconfig: the generated configs say what we designed", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await talosRepo(dir);
    await gensecret(alice.ctx);
    const bundle = await Deno.readTextFile(join(root, PATHS.talosBundle));
    assert.match(bundle, /^sops:/m);
    assert.doesNotMatch(
      bundle,
      /BEGIN (CERTIFICATE|EC PRIVATE KEY|RSA PRIVATE KEY|PRIVATE KEY)|token: [a-z0-9]{6}\./,
      "plaintext in the bundle",
    );
    assert.ok((await sopsWithKey(root, await keyOf(alice.keyFile), "decrypt", PATHS.talosBundle)).ok);
    await assert.rejects(gensecret(alice.ctx), /exists already/);

    const files = await genconfig(alice.ctx);
    assert.deepEqual(files, [
      ...SITE.nodes.map((n) => `talos/clusterconfig/${CLUSTER}-${n.hostname}.yaml`).sort(),
      "talos/clusterconfig/talosconfig",
    ]);
    for (const f of files) {
      assert.equal((await Deno.stat(join(root, f))).mode! & 0o777, 0o600, f);
      assert.equal(git(root, "check-ignore", "-q", f), "", `${f} is not ignored by git`);
    }
    assert.equal((await Deno.stat(join(root, PATHS.talosOut))).mode! & 0o777, 0o700);
    assert.equal(git(root, "status", "--porcelain", "--", "talos/clusterconfig"), "");

    const text = await Deno.readTextFile(join(root, files[0]));
    const docs = parseAllDocuments(text).map((d) => ("toJS" in d ? d.toJS() : undefined));
    const kind = (k: string, name?: string) =>
      docs.filter((d) => d?.kind === k && (name === undefined || d.name === name));
    const v1 = docs.find((d) => d?.version === "v1alpha1");
    const id = "9c4964a2abdf6ef1fd114d60d37dd8288a37731d839860169e456ec7b9ff590e";

    assert.equal(kind("KubeAdmissionControlConfig", "PodSecurity")[0]?.configuration.defaults.enforce, "restricted");
    assert.deepEqual(kind("KubeAdmissionControlConfig", "PodSecurity")[0]?.configuration.exemptions.namespaces, [
      "kube-system",
    ]);
    assert.equal(kind("Layer2VIPConfig")[0]?.name, SITE.lan.vip);
    assert.ok(kind("Layer2VIPConfig")[0]?.link, "the VIP sits on the node's interface");
    assert.equal(kind("KubeFlannelConfig").length, 0, "no CNI");
    assert.equal(v1.cluster.network?.cni, undefined);
    assert.equal(kind("KubeProxyConfig")[0]?.enabled, false);
    assert.equal(v1.cluster.allowSchedulingOnControlPlanes, true);
    assert.equal(v1.machine.install.image, `factory.talos.dev/metal-installer-secureboot/${id}:v1.14.0`);
    for (const volume of ["STATE", "EPHEMERAL"]) {
      const vc = kind("VolumeConfig", volume)[0];
      assert.equal(vc?.encryption.provider, "luks2", volume);
      assert.ok(
        vc.encryption.keys.some((k: { tpm?: unknown }) => k.tpm !== undefined),
        `${volume} not sealed by the TPM`,
      );
    }
    assert.equal(kind("VolumeConfig", "EPHEMERAL")[0].encryption.keys[0].lockToState, true);
    assert.deepEqual(v1.machine.kernel.modules.map((m: { name: string }) => m.name), ["drbd", "drbd_transport_tcp"]);
    assert.deepEqual(v1.machine.kernel.modules[0].parameters, ["usermode_helper=disabled"]);
    assert.equal(kind("ResolverConfig")[0]?.hostDNS.forwardKubeDNSToHost, false);
    assert.equal(v1.cluster.controlPlane.endpoint, `https://${SITE.lan.vip}:6443`);
  });
});

Deno.test("genconfig refuses a missing bundle, a bundle for another key, and a tampered bundle", async () => {
  await withTempDir(async (dir) => {
    const { root, alice } = await talosRepo(dir);
    const out = join(root, PATHS.talosOut);

    const missing = await genconfig(alice.ctx).then(() => undefined, (e) => e);
    assert.ok(missing instanceof InputError);
    assert.match(missing.message, /talsecret\.sops\.yaml: is missing, so talhelper would generate new cluster secrets/);
    assert.match(missing.hint ?? "", /talos gensecret/);

    await gensecret(alice.ctx);
    const bob = await owner(dir, "bob", root, { SOPS_AGE_KEY_FILE: join(dir, "bob.txt") });
    await new Deno.Command("age-keygen", {
      args: ["-o", join(dir, "bob.txt")],
      env: { PATH: bob.config.env.PATH },
      stderr: "null",
    }).output();
    const wrongKey = await genconfig(bob.ctx).then(() => undefined, (e) => e);
    assert.ok(wrongKey instanceof KeyPathError, String(wrongKey));
    assert.match(wrongKey.message, /talos\/talsecret\.sops\.yaml is encrypted for age1/);
    assert.match(wrongKey.message, new RegExp(`SOPS_AGE_KEY_FILE=${join(dir, "bob.txt")}`));

    const path = join(root, PATHS.talosBundle);
    const text = await Deno.readTextFile(path);
    const i = text.indexOf(": ENC[AES256_GCM,data:") + ": ENC[AES256_GCM,data:".length;
    await Deno.writeTextFile(path, text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1));
    const tampered = await genconfig(alice.ctx).then(() => undefined, (e) => e);
    assert.ok(tampered instanceof InputError, String(tampered));
    assert.match(tampered.message, /does not decrypt/);

    await assert.rejects(Deno.stat(out), Deno.errors.NotFound, "something was generated");
    assert.deepEqual((await listing(join(root, "talos"))).filter((n) => n.startsWith(".clusterconfig")), []);
  });
});
