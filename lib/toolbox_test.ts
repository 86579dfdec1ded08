import assert from "node:assert/strict";
import { join } from "node:path";
import { ToolError } from "./cmd.ts";
import { cacheDirOf, Toolbox } from "./toolbox.ts";
import { parseVersion, TOOLS, toolSpec } from "./tools.ts";
import { fakeTool, SYSTEM_PATH, tempConfig, withTempDir } from "../tests/helpers.ts";

const sops = toolSpec("sops")!;

Deno.test("the right version on PATH is accepted", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const path = await fakeTool(bin, "sops", `echo "sops ${sops.version} (latest)"`);
    const toolbox = new Toolbox(tempConfig(dir, `${bin}:${SYSTEM_PATH}`));
    assert.equal(await toolbox.resolve("sops"), path);
  });
});

Deno.test("a wrong version on PATH is rejected with the wanted version in the message", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "sops", `echo "sops 3.8.1"`);
    const toolbox = new Toolbox(tempConfig(dir, `${bin}:${SYSTEM_PATH}`));
    const err = await toolbox.resolve("sops").then(() => undefined, (e) => e);
    assert.ok(err instanceof ToolError);
    assert.equal(err.tool, "sops");
    assert.match(err.message, new RegExp(`found 3\\.8\\.1 at ${bin}/sops, but this repository pins ${sops.version}`));
    assert.match(err.hint ?? "", /deno task tools/);
  });
});

Deno.test("a missing tool points to `deno task tools`", async () => {
  await withTempDir(async (dir) => {
    const config = tempConfig(dir, SYSTEM_PATH);
    const err = await new Toolbox(config).resolve("talhelper").then(() => undefined, (e) => e);
    assert.ok(err instanceof ToolError);
    assert.match(err.message, /talhelper \d+\.\d+\.\d+ is missing: not on PATH and not in /);
    assert.ok(err.message.includes(cacheDirOf(config, toolSpec("talhelper")!)));
    assert.match(err.hint ?? "", /`deno task tools`.*`nix develop`/);
  });
});

Deno.test("a tool that cannot be built here says so instead of pointing to `deno task tools`", async () => {
  await withTempDir(async (dir) => {
    const err = await new Toolbox(tempConfig(dir, SYSTEM_PATH)).resolve("ksops").then(() => undefined, (e) => e);
    assert.ok(err instanceof ToolError);
    assert.match(err.hint ?? "", /cannot build it here/);
  });
});

Deno.test("the cache is used when PATH has the wrong version", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "sops", `echo "sops 3.8.1"`);
    const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`);
    const cached = await fakeTool(cacheDirOf(config, sops), "sops", `echo "sops ${sops.version}"`);
    const toolbox = new Toolbox(config);
    assert.equal(await toolbox.resolve("sops"), cached);
    const probe = await toolbox.probe(sops);
    assert.deepEqual(probe.candidates.map((c) => [c.source, c.version]), [["path", "3.8.1"], ["cache", sops.version]]);
  });
});

Deno.test("extra binaries resolve with their tool's version check", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const age = toolSpec("age")!;
    const keygen = await fakeTool(bin, "age-keygen", `echo "v${age.version}"`);
    assert.equal(await new Toolbox(tempConfig(dir, `${bin}:${SYSTEM_PATH}`)).resolve("age-keygen"), keygen);
  });
});

Deno.test("a remembered version is checked again when the binary changes", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`);
    await fakeTool(bin, "sops", `echo "sops ${sops.version}"`);
    assert.equal((await new Toolbox(config).probe(sops)).status, "ok");
    const memo = JSON.parse(await Deno.readTextFile(join(config.toolsDir, "versions.json")));
    assert.equal(memo[join(bin, "sops")].version, sops.version);

    await fakeTool(bin, "sops", `echo "sops 3.9.10 (a different build)"`);
    const probe = await new Toolbox(config).probe(sops);
    assert.equal(probe.status, "wrong");
    assert.equal(probe.candidates[0].version, "3.9.10");
  });
});

Deno.test("tools that are not in the manifest are looked up on PATH", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const docker = await fakeTool(bin, "docker", "exit 0");
    const toolbox = new Toolbox(tempConfig(dir, `${bin}:${SYSTEM_PATH}`));
    assert.equal(await toolbox.resolve("docker"), docker);
    await assert.rejects(toolbox.resolve("podman"), /podman was not found on PATH/);
  });
});

Deno.test("version patterns read each tool's own version output", () => {
  const samples: Record<string, string> = {
    sops: "sops 3.13.3 (latest)\n",
    age: "v1.3.2\n",
    talhelper: "talhelper version 3.1.17\n",
    talosctl: "Client:\n\tTalos v1.14.1\n",
    helm: "v4.3.1",
    kustomize: "v5.8.2\n",
    ksops:
      "/x/ksops: go1.26\n\tpath\tgithub.com/viaduct-ai/kustomize-sops\n\tmod\tgithub.com/viaduct-ai/kustomize-sops\tv4.5.1\th1:abc=\n",
    jsonnet: "Jsonnet commandline interpreter (Go implementation) v0.22.0\n",
    actionlint: "v1.7.12\ninstalled by building from source\nbuilt with go1.26.8 compiler for linux/amd64\n",
    kind: "kind v0.33.0 go1.26.8 linux/amd64\n",
    kubectl: "Client Version: v1.37.2\nKustomize Version: v5.7.1\n",
    "kube-apiserver": "Kubernetes v1.37.2\n",
    etcd: "etcd Version: 3.7.0\nGit SHA: Not provided (use ./build instead of go build)\nGo Version: go1.26.8\n",
    kwok: "kwok version v0.8.0 go1.26.8 (linux/amd64)\n",
    psa: "psa 1.37.2\n",
    argocd: "argocd: v3.6.1+unknown\n",
    miniredis: "miniredis v2.39.0\n",
  };
  for (const spec of TOOLS) {
    const sample = samples[spec.name];
    assert.ok(sample, `no sample output for ${spec.name}`);
    assert.equal(parseVersion(spec, sample.replace(/\d+\.\d+\.\d+/, spec.version)), spec.version, spec.name);
  }
  // A Kubernetes binary built without the version ldflags must not pass for the pinned one.
  const kube = toolSpec("kube-apiserver")!;
  assert.notEqual(parseVersion(kube, "Kubernetes v0.0.0-master+$Format:%H$"), kube.version);
  // A kubectl built without the version ldflags must not pass for the pinned one.
  const kubectl = toolSpec("kubectl")!;
  assert.notEqual(parseVersion(kubectl, "Client Version: v0.0.0-master+$Format:%H$"), kubectl.version);
  // Neither is an Argo CD built without them (its fallback version).
  const argocd = toolSpec("argocd")!;
  assert.notEqual(parseVersion(argocd, "argocd: v99.99.99+unknown"), argocd.version);
});

Deno.test("a binary replaced by one of the same size but another version is checked again", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`);
    const other = sops.version.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
    const path = await fakeTool(bin, "sops", `echo "sops ${sops.version}"`);
    const versionSeen = async () => (await new Toolbox(config).probe(sops)).candidates[0].version;
    assert.equal(await versionSeen(), sops.version);
    const first = await Deno.stat(path);

    // Rebuilt in place: the same size, a newer mtime.
    await fakeTool(bin, "sops", `echo "sops ${other}"`);
    await Deno.utime(path, first.atime!, new Date(first.mtime!.getTime() + 60_000));
    assert.equal((await Deno.stat(path)).size, first.size);
    assert.equal(await versionSeen(), other, "the memo trusted the size alone");

    // Copied in with `cp -p` from a build with the same mtime (every Nix store file has mtime 1):
    // the same size, mtime and inode; only the change time tells.
    const build = join(dir, "build");
    await fakeTool(bin, "sops", `echo "sops ${sops.version}"`);
    await Deno.utime(path, 1, 1);
    assert.equal(await versionSeen(), sops.version);
    const checked = await Deno.stat(path);
    await fakeTool(build, "sops", `echo "sops ${other}"`);
    await Deno.utime(join(build, "sops"), 1, 1);
    // The change time has a resolution of one second here: let it move on from the check.
    const next = Math.floor(checked.ctime!.getTime() / 1000) * 1000 + 1_050;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    const cp = await new Deno.Command("cp", { args: ["-p", join(build, "sops"), path] }).output();
    assert.ok(cp.success);
    const copied = await Deno.stat(path);
    assert.deepEqual([copied.size, copied.mtime, copied.ino], [checked.size, checked.mtime, checked.ino]);
    assert.equal(await versionSeen(), other, "the memo trusted size and mtime after `cp -p`");

    // Moved into place (a new inode), same size and mtime.
    await fakeTool(build, "sops", `echo "sops ${sops.version}"`);
    await Deno.utime(join(build, "sops"), 1, 1);
    await Deno.rename(join(build, "sops"), path);
    assert.equal(await versionSeen(), sops.version, "the memo missed a binary moved into place");
  });
});

Deno.test("a damaged version memo is ignored and written afresh", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`);
    const path = await fakeTool(bin, "sops", `echo "sops ${sops.version}"`);
    await Deno.mkdir(config.toolsDir, { recursive: true });
    const memoFile = join(config.toolsDir, "versions.json");
    await Deno.writeTextFile(memoFile, '{"truncated": ');
    assert.equal(await new Toolbox(config).resolve("sops"), path);
    assert.equal(JSON.parse(await Deno.readTextFile(memoFile))[path].version, sops.version);
    assert.deepEqual([...Deno.readDirSync(config.toolsDir)].map((e) => e.name), ["versions.json"], "a temp file left");
  });
});
