/**
 * Saying what is really wrong: a folder or an unreadable file is not "missing", a cut-off SOPS
 * file is not "encrypted for no one", a garbled key file is not passed over in silence, and a YAML
 * mistake in talconfig shows where it is. The tasks run as processes in a scratch repository.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTalosBundle } from "../lib/secrets/lifecycle.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { assertParagraph, taskRepo } from "./secrets_helpers.ts";

Deno.test("a folder, or a file that cannot be read, is said to be what it is, not missing", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await taskRepo(dir);
    await Deno.mkdir(join(root, "system/demo/folder.sops.yaml"));
    // A symbolic link to itself: there, but no one (root included) can read it.
    await Deno.symlink("loop.sops.yaml", join(root, "system/demo/loop.sops.yaml"));
    for (const sub of ["decrypt", "edit"]) {
      const folder = await run("secrets", [sub, "system/demo/folder.sops.yaml"], { env: { EDITOR: "true" } });
      assertParagraph(folder, /folder\.sops\.yaml: is a folder, not a file\nhint: name a file you can read/);
      const loop = await run("secrets", [sub, "system/demo/loop.sops.yaml"], { env: { EDITOR: "true" } });
      assertParagraph(loop, /loop\.sops\.yaml: cannot be read: too many levels of symbolic links/);
    }
    const check = await run("secrets", ["check", "system/demo/folder.sops.yaml", "system/demo/loop.sops.yaml"]);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stderr, /folder\.sops\.yaml is a folder, not a file/);
    assert.match(check.stderr, /loop\.sops\.yaml cannot be read: too many levels of symbolic links/);
    assert.doesNotMatch(check.stderr, /does not exist/);
    const schematic = await run("talos", ["schematic", join(root, "system")]);
    assertParagraph(schematic, new RegExp(`${join(root, "system")}: is a folder, not a file`));
  });
});

Deno.test("a SOPS file cut off anywhere is called damaged, with the way back, not encrypted for no one", async () => {
  await withTempDir(async (dir) => {
    const { root, run } = await taskRepo(dir);
    const file = "system/demo/db.sops.yaml";
    const whole = await Deno.readTextFile(join(root, file));
    const sops = whole.indexOf("\nsops:\n");
    const cuts = {
      "in the values": Math.floor(sops / 2),
      "after its age list began": whole.indexOf("\n", whole.indexOf("age:", sops)) + 1,
      "in an age key": whole.indexOf("-----END AGE ENCRYPTED FILE-----") - 10,
      "before its version": whole.lastIndexOf("version:"),
    };
    for (const [where, at] of Object.entries(cuts)) {
      await Deno.writeTextFile(join(root, file), whole.slice(0, at));
      for (const sub of ["decrypt", "edit"]) {
        const r = await run("secrets", [sub, file], { env: { EDITOR: "true" } });
        assertParagraph(r, /db\.sops\.yaml: is damaged, probably cut off \(truncated\)/);
        assert.match(r.stderr, /hint: restore it from git \(`git checkout -- system\/demo\/db\.sops\.yaml`\)/, where);
        assert.doesNotMatch(r.stderr, /no age recipient|not encrypted/, where);
      }
      const check = await run("secrets", ["check"]);
      assert.equal(check.code, 1, where);
      assert.match(check.stderr, /db\.sops\.yaml is damaged, probably cut off/, `${where}: ${check.stderr}`);
    }
  });
});

Deno.test("a garbled or missing SOPS_AGE_KEY_FILE is named, even when the default key opens the file", async () => {
  await withTempDir(async (dir) => {
    const { run } = await taskRepo(dir);
    const garbled = join(dir, "keys.txt");
    await Deno.writeTextFile(garbled, "# my key\nAGE-SECRET-KEY-1THISISNOTAKEY\n");
    const r = await run("secrets", ["decrypt", "system/demo/db.sops.yaml"], { env: { SOPS_AGE_KEY_FILE: garbled } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /REPLACE-ME/);
    assert.match(
      r.stderr,
      new RegExp(`warning: SOPS_AGE_KEY_FILE=${garbled}: line 2 is not an age private key .*sops uses the other keys`),
    );
    const check = await run("secrets", ["check"], { env: { SOPS_AGE_KEY_FILE: garbled } });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /warning: SOPS_AGE_KEY_FILE=\S+keys\.txt line 2 is not an age private key/);
    const missing = await run("secrets", ["decrypt", "system/demo/db.sops.yaml"], {
      env: { SOPS_AGE_KEY_FILE: join(dir, "nope.txt") },
    });
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stderr, /warning: SOPS_AGE_KEY_FILE=\S+nope\.txt: does not exist; sops uses the other keys/);
  });
});

Deno.test("a YAML mistake in talconfig shows its line, column and the line itself", async () => {
  await withTempDir(async (dir) => {
    const { root, alice, run } = await taskRepo(dir);
    await new Deno.Command("cp", { args: ["-R", `${join(REPO, "talos")}/.`, join(root, "talos")] }).output();
    await Deno.remove(join(root, "talos", "clusterconfig"), { recursive: true }).catch(() => {});
    await writeTalosBundle(alice.ctx);
    const talconfig = join(root, "talos/talconfig.yaml");
    const lines = (await Deno.readTextFile(talconfig)).split("\n");
    const at = lines.findIndex((l) => /^\s+ipAddress:/.test(l));
    lines[at] = lines[at].replace(/ipAddress: .*/, "ipAddress: [192.168.1.10");
    await Deno.writeTextFile(talconfig, lines.join("\n"));
    const r = await run("talos", ["genconfig"]);
    assertParagraph(r, /talconfig\.yaml:\d+: .* at line \d+, column \d+:/);
    assert.ok(r.stderr.includes(`| ${lines[at]}`), `the line itself is not shown:\n${r.stderr}`);
    assert.match(r.stderr, /\|\s+\^/, "no caret under the column");
  });
});
