import assert from "node:assert/strict";
import { join } from "node:path";
import { CommandError, Runner } from "./cmd.ts";
import { HomelabError } from "./errors.ts";
import {
  buildCommands,
  buildJobs,
  buildTool,
  DEFAULT_JOBS,
  installTools,
  moduleRefs,
  planTools,
  wrapperGoMod,
} from "./install.ts";
import { toolsCommand } from "./tasks/tools.ts";
import { cacheBinDir, cacheDirOf, sourceDigest, Toolbox } from "./toolbox.ts";
import { GO, type ModuleBuild, toolSpec } from "./tools.ts";
import { consoleUi } from "./ui.ts";
import { fakeTool, SYSTEM_PATH, tempConfig, withTempDir } from "../tests/helpers.ts";

const sops = toolSpec("sops")!;
const age = toolSpec("age")!;

/**
 * A fake `go` that records its arguments and the generated go.mod, and "builds" a binary that
 * prints $FAKE_VERSION_OUTPUT (or fails when $FAKE_GO_FAIL is set).
 */
async function fakeGo(bin: string, log: string): Promise<void> {
  await fakeTool(
    bin,
    "go",
    `echo "go $*" >> "${log}"
[ -f go.mod ] && sed 's/^/  go.mod: /' go.mod >> "${log}"
if [ -n "$FAKE_GO_FAIL" ]; then echo "go: module lookup disabled" >&2; exit 1; fi
if [ "$1" = list ]; then echo "$FAKE_MODULE_DIR"; exit 0; fi
pkgs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift ;;
    -tags|-ldflags) shift ;;
    -*) ;;
    *) pkgs+=("$1") ;;
  esac
  shift
done
# -o DIR/ builds every package into DIR, each named after its last path element.
case "$out" in */) outs=(); for p in "\${pkgs[@]:1}"; do outs+=("$out\${p##*/}"); done ;; *) outs=("$out") ;; esac
for o in "\${outs[@]}"; do
  mkdir -p "$(dirname "$o")"
  printf '#!/usr/bin/env bash\\necho "$FAKE_VERSION_OUTPUT"\\n' > "$o"
  chmod +x "$o"
done`,
  );
}

async function setup(dir: string, extra: Record<string, string> = {}) {
  const bin = join(dir, "bin");
  const log = join(dir, "go.log");
  await fakeGo(bin, log);
  const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`, extra);
  const toolbox = new Toolbox(config);
  const runner = new Runner({ env: config.env, resolve: toolbox.resolve });
  return { config, toolbox, runner, log };
}

async function leftovers(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.name.startsWith(".build-")) names.push(e.name);
  } catch {
    // no directory, no leftovers
  }
  return names;
}

Deno.test("a tool is built in a generated module, checked, installed and linked", async () => {
  await withTempDir(async (dir) => {
    const { config, toolbox, runner, log } = await setup(dir, { FAKE_VERSION_OUTPUT: `sops ${sops.version}` });
    await buildTool(config, runner, toolbox, sops);

    const installed = join(cacheDirOf(config, sops), "sops");
    assert.equal((await Deno.stat(installed)).isFile, true);
    assert.equal(await Deno.readLink(join(cacheBinDir(config), "sops")), `../sops/${sops.version}/sops`);
    assert.equal(await new Toolbox(config).resolve("sops"), installed);

    const calls = await Deno.readTextFile(log);
    assert.match(calls, /^go build -trimpath -o \S+\/out\/sops github\.com\/getsops\/sops\/v3\/cmd\/sops$/m);
    assert.match(calls, new RegExp(`go.mod: require github.com/getsops/sops/v3 v${sops.version}`));
    assert.deepEqual(await leftovers(join(config.toolsDir, "sops")), []);
  });
});

Deno.test("a tool with two binaries builds and links both", async () => {
  await withTempDir(async (dir) => {
    const { config, toolbox, runner } = await setup(dir, { FAKE_VERSION_OUTPUT: `v${age.version}` });
    await buildTool(config, runner, toolbox, age);
    for (const b of ["age", "age-keygen"]) {
      assert.equal(await Deno.readLink(join(cacheBinDir(config), b)), `../age/${age.version}/${b}`);
    }
  });
});

Deno.test("a build that reports another version is not installed", async () => {
  await withTempDir(async (dir) => {
    const { config, toolbox, runner } = await setup(dir, { FAKE_VERSION_OUTPUT: "sops 0.0.1" });
    await assert.rejects(
      buildTool(config, runner, toolbox, sops),
      (e) => e instanceof HomelabError && /reports version 0\.0\.1 instead of/.test(e.message),
    );
    await assert.rejects(Deno.stat(cacheDirOf(config, sops)), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(join(cacheBinDir(config), "sops")), Deno.errors.NotFound);
    assert.deepEqual(await leftovers(join(config.toolsDir, "sops")), []);
  });
});

Deno.test("a failed build leaves nothing behind and reports go's error", async () => {
  await withTempDir(async (dir) => {
    const { config, toolbox, runner } = await setup(dir, { FAKE_GO_FAIL: "1" });
    const err = await buildTool(config, runner, toolbox, sops).then(() => undefined, (e) => e);
    assert.ok(err instanceof CommandError);
    assert.equal(err.tool, "go");
    assert.match(err.stderrTail, /module lookup disabled/);
    await assert.rejects(Deno.stat(cacheDirOf(config, sops)), Deno.errors.NotFound);
    assert.deepEqual(await leftovers(join(config.toolsDir, "sops")), []);
  });
});

Deno.test("`tools` builds what is missing once; running it again builds nothing", async () => {
  await withTempDir(async (dir) => {
    const { config, log } = await setup(dir, { FAKE_VERSION_OUTPUT: `sops ${sops.version}` });
    const lines: string[] = [];
    const ui = consoleUi({ write: (t) => lines.push(t) });
    assert.equal(await toolsCommand(config, { names: ["sops"] }, ui), 0);
    const first = (await Deno.readTextFile(log)).match(/^go build/gm)?.length;
    assert.equal(first, 1);
    assert.match(lines.join(""), /tools: built sops in/);

    lines.length = 0;
    assert.equal(await toolsCommand(config, { names: ["sops"] }, ui), 0);
    assert.equal((await Deno.readTextFile(log)).match(/^go build/gm)?.length, 1);
    assert.match(lines.join(""), /tools: nothing to build/);

    const plans = await planTools(new Toolbox(config), [sops, toolSpec("ksops")!]);
    assert.deepEqual(plans.map((p) => p.action), ["present", "unavailable"]);
  });
});

Deno.test("unknown tool names are rejected with the valid ones listed", async () => {
  await withTempDir(async (dir) => {
    const { config } = await setup(dir);
    await assert.rejects(
      toolsCommand(config, { names: ["sopz"] }, consoleUi({ write: () => {} })),
      (e) => e instanceof HomelabError && e.exitCode === 2 && /sops, age/.test(e.hint ?? ""),
    );
  });
});

Deno.test("the generated module requires exactly the pinned module version, with the pinned go line", () => {
  const build = sops.build as ModuleBuild;
  assert.match(GO, /^\d+\.\d+\.\d+$/);
  assert.equal(
    wrapperGoMod(sops, build),
    `module homelab.invalid/tools/sops\n\ngo ${GO}\n\nrequire github.com/getsops/sops/v3 v${sops.version}\n`,
  );
});

Deno.test("a forced rebuild whose version check fails leaves the working install and its link in place", async () => {
  await withTempDir(async (dir) => {
    const { config, toolbox, runner } = await setup(dir, { FAKE_VERSION_OUTPUT: `sops ${sops.version}` });
    await buildTool(config, runner, toolbox, sops);
    const installed = join(cacheDirOf(config, sops), "sops");
    const before = await Deno.readTextFile(installed);

    // The same cache, but the rebuilt binary reports another version.
    const bad = await setup(dir, { FAKE_VERSION_OUTPUT: "sops 0.0.1" });
    const plans = await planTools(bad.toolbox, [sops], true);
    assert.equal(plans[0].action, "build");
    await assert.rejects(
      buildTool(bad.config, bad.runner, bad.toolbox, sops),
      (e) => e instanceof HomelabError && /reports version 0\.0\.1/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(installed), before);
    // The link still points at a file (not dangling).
    assert.equal((await Deno.stat(join(cacheBinDir(config), "sops"))).isFile, true);
    assert.deepEqual(await leftovers(join(config.toolsDir, "sops")), []);
  });
});

Deno.test("`tools TOOL` for a tool it cannot build fails, naming the tool and where to get it", async () => {
  await withTempDir(async (dir) => {
    const { config } = await setup(dir);
    const lines: string[] = [];
    const err = await toolsCommand(config, { names: ["talosctl"] }, consoleUi({ write: (t) => lines.push(t) }))
      .then(() => undefined, (e) => e);
    assert.ok(err instanceof HomelabError && err.exitCode === 1, String(err));
    assert.match(err.message, /talosctl cannot be built/);
    assert.match(err.hint ?? "", /nix develop/);
    assert.doesNotMatch(lines.join(""), /nothing to build/);
  });
});

Deno.test("a committed module is copied, built by one go build with -mod=readonly, and its data copied", async () => {
  await withTempDir(async (dir) => {
    const kube = toolSpec("kube-apiserver")!;
    const { config, toolbox, runner, log } = await setup(dir, { FAKE_VERSION_OUTPUT: `Kubernetes v${kube.version}` });
    await buildTool(config, runner, toolbox, kube);
    const calls = await Deno.readTextFile(log);
    const builds = calls.match(/^go build .*$/gm) ?? [];
    assert.equal(builds.length, 1, calls);
    assert.match(builds[0], /-tags selinux,notest,grpcnotrace/);
    assert.match(
      builds[0],
      /k8s\.io\/kubernetes\/cmd\/kube-apiserver k8s\.io\/kubernetes\/cmd\/kube-controller-manager/,
    );
    assert.match(builds[0], /buildDate=1970-01-01T00:00:00Z/);
    // The generated module is a copy of the committed one, not a made-up go.mod.
    assert.match(calls, /go\.mod: module homelab\.invalid\/tools\/kubernetes/);
    for (const b of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
      assert.equal(
        await Deno.readLink(join(cacheBinDir(config), b)),
        `../kube-apiserver/${kube.version}-${sourceDigest(join(config.repoRoot, "tools/go/kubernetes"))}/${b}`,
      );
    }
  });
});

Deno.test("a repo-module build refuses to change the committed go.sum", () => {
  const kube = toolSpec("kube-apiserver")!;
  const [c] = buildCommands(kube, "/w", "/w/out", {});
  assert.match(String(c.env?.GOFLAGS), /-mod=readonly/);
  const [s] = buildCommands(sops, "/w", "/w/out", {});
  assert.match(String(s.env?.GOFLAGS), /-mod=mod/);
});

Deno.test("data files a tool needs are copied from its module beside the binary", async () => {
  await withTempDir(async (dir) => {
    const kwok = toolSpec("kwok")!;
    const moduleDir = join(dir, "modcache", "kwok");
    await Deno.mkdir(join(moduleDir, "kustomize/stage/pod/fast"), { recursive: true });
    await Deno.writeTextFile(join(moduleDir, "kustomize/stage/pod/fast/pod-ready.yaml"), "kind: Stage\n");
    // The module cache is read-only; the copy must still be removable later.
    await Deno.chmod(join(moduleDir, "kustomize/stage/pod/fast/pod-ready.yaml"), 0o444);
    const { config, toolbox, runner } = await setup(dir, {
      FAKE_VERSION_OUTPUT: `kwok version v${kwok.version}`,
      FAKE_MODULE_DIR: moduleDir,
    });
    await buildTool(config, runner, toolbox, kwok);
    const copied = join(cacheDirOf(config, kwok), "stages/pod/fast/pod-ready.yaml");
    assert.equal(await Deno.readTextFile(copied), "kind: Stage\n");
    await Deno.remove(cacheDirOf(config, kwok), { recursive: true });
  });
});

Deno.test("a tool's data can be several directories and files; a file is copied executable", async () => {
  await withTempDir(async (dir) => {
    const argocd = toolSpec("argocd")!;
    const moduleDir = join(dir, "modcache", "argo-cd");
    await Deno.mkdir(join(moduleDir, "manifests/crds"), { recursive: true });
    await Deno.mkdir(join(moduleDir, "hack"), { recursive: true });
    await Deno.writeTextFile(
      join(moduleDir, "manifests/crds/application-crd.yaml"),
      "kind: CustomResourceDefinition\n",
    );
    await Deno.writeTextFile(join(moduleDir, "hack/git-verify-wrapper.sh"), "#!/bin/sh\necho verified\n");
    // As read-only as the module cache.
    await Deno.chmod(join(moduleDir, "hack/git-verify-wrapper.sh"), 0o444);
    const { config, toolbox, runner } = await setup(dir, {
      FAKE_VERSION_OUTPUT: `argocd: v${argocd.version}+unknown`,
      FAKE_MODULE_DIR: moduleDir,
    });
    await buildTool(config, runner, toolbox, argocd);
    const home = cacheDirOf(config, argocd);
    assert.equal(await Deno.readTextFile(join(home, "crds/application-crd.yaml")), "kind: CustomResourceDefinition\n");
    const helper = join(home, "bin/git-verify-wrapper.sh");
    assert.equal((await Deno.stat(helper)).mode! & 0o111, 0o111, "the helper script is not executable");
    const r = await new Deno.Command(helper, { stdout: "piped" }).output();
    assert.equal(new TextDecoder().decode(r.stdout), "verified\n");
    await Deno.remove(home, { recursive: true });
  });
});

Deno.test("a committed module is rebuilt when one of its sources changes, and only then", async () => {
  await withTempDir(async (dir) => {
    const psa = toolSpec("psa")!;
    const { config: base, log } = await setup(dir, { FAKE_VERSION_OUTPUT: `psa ${psa.version}` });
    // A checkout of its own holding the fixture module, so the test can change it.
    const root = join(dir, "repo");
    const moduleDir = join(root, "tools/go/psa");
    await Deno.mkdir(moduleDir, { recursive: true });
    await Deno.writeTextFile(join(moduleDir, "go.mod"), "module homelab.invalid/tools/psa\n\ngo 1.26\n");
    await Deno.writeTextFile(join(moduleDir, "main.go"), "package main\n\nfunc main() { println(1) }\n");
    const config = { ...base, repoRoot: root };
    const ui = consoleUi({ write: () => {} });
    const builds = async () => (await Deno.readTextFile(log).catch(() => "")).match(/^go build/gm)?.length ?? 0;
    const run = async () => {
      const toolbox = new Toolbox(config);
      const runner = new Runner({ env: config.env, resolve: toolbox.resolve });
      const plans = await planTools(toolbox, [psa]);
      await installTools(config, runner, toolbox, plans, ui);
      return plans[0].action;
    };

    assert.equal(await run(), "build");
    assert.equal(await builds(), 1);
    const first = cacheDirOf(config, psa);
    assert.equal(await run(), "present");
    assert.equal(await builds(), 1);

    await Deno.writeTextFile(join(moduleDir, "main.go"), "package main\n\nfunc main() { println(2) }\n");
    assert.equal(await run(), "build");
    assert.equal(await builds(), 2);
    assert.notEqual(cacheDirOf(config, psa), first);
    assert.equal(
      await Deno.readLink(join(cacheBinDir(config), "psa")),
      `../psa/${psa.version}-${sourceDigest(moduleDir)}/psa`,
    );
    assert.equal(await run(), "present");
    assert.equal(await builds(), 2);

    // go.sum is a source too.
    await Deno.writeTextFile(join(moduleDir, "go.sum"), "example.com/x v1.0.0 h1:x=\n");
    assert.equal(await run(), "build");
    assert.equal(await builds(), 3);
  });
});

/** A fake `go` whose builds each wait until `want` builds have started, and fail after a while otherwise. */
async function rendezvousGo(bin: string, marks: string, want: number): Promise<void> {
  await fakeTool(
    bin,
    "go",
    `out=; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
touch "${marks}/$(basename "$out")"
for _ in $(seq 600); do
  [ "$(ls "${marks}" | wc -l)" -ge ${want} ] && break
  sleep 0.05
done
if [ "$(ls "${marks}" | wc -l)" -lt ${want} ]; then echo "go: built alone" >&2; exit 1; fi
mkdir -p "$(dirname "$out")"
printf '#!/usr/bin/env bash\\necho "$FAKE_VERSION_OUTPUT"\\n' > "$out"
chmod +x "$out"`,
  );
}

Deno.test("independent tools are built at the same time, as many as the jobs allow", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    const marks = join(dir, "marks");
    await Deno.mkdir(marks);
    await rendezvousGo(bin, marks, 2);
    // Both tools print the same line: each pattern finds its version in it.
    const config = tempConfig(dir, `${bin}:${SYSTEM_PATH}`, {
      FAKE_VERSION_OUTPUT: `sops ${sops.version}\nv${age.version}`,
      HOMELAB_TOOLS_JOBS: "2",
    });
    const toolbox = new Toolbox(config);
    const runner = new Runner({ env: config.env, resolve: toolbox.resolve });
    const plans = await planTools(toolbox, [sops, age]);
    const outcomes = await installTools(config, runner, toolbox, plans, consoleUi({ write: () => {} }));
    assert.deepEqual(outcomes.map((o) => [o.name, o.action]), [["sops", "build"], ["age", "build"]]);
    assert.equal(await new Toolbox(config).resolve("age"), join(cacheDirOf(config, age), "age"));
  });
});

Deno.test("the progress line gives the time left from the last recorded build times, longest first", async () => {
  await withTempDir(async (dir) => {
    const { config } = await setup(dir, { FAKE_VERSION_OUTPUT: `sops ${sops.version}\nv${age.version}` });
    await Deno.mkdir(config.toolsDir, { recursive: true });
    await Deno.writeTextFile(join(config.toolsDir, "build-times.json"), JSON.stringify({ age: 60_000, sops: 120_000 }));
    const toolbox = new Toolbox(config);
    const runner = new Runner({ env: config.env, resolve: toolbox.resolve });
    const shown: string[] = [];
    let status: (() => string) | undefined;
    const ui = {
      info: (line: string) => shown.push(`${line} | ${status?.()}`),
      warn: () => {},
      progress: <T>(label: string, fn: () => Promise<T>, _every?: number, s?: () => string) => {
        shown.push(label);
        status = s;
        return fn();
      },
    };
    // A clock that stands still: no time is charged to any build, so the estimate is the recorded one.
    await installTools(config, runner, toolbox, await planTools(toolbox, [age, sops]), ui, { jobs: 1, now: () => 0 });
    assert.deepEqual(shown.map((l) => l.replace(/built in \d+s/, "built in Ns")), [
      "tools: building 2 tools, 1 at a time (about 3m00s)",
      `  [1/2] sops ${sops.version}: built in Ns | [1/2] about 1m00s left`,
      `  [2/2] age ${age.version}: built in Ns | [2/2] about 0s left`,
    ]);
    // What each build took is what the next run expects.
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(config.toolsDir, "build-times.json"))), {
      age: 0,
      sops: 0,
    });
  });
});

Deno.test("helm's default Kubernetes minor is read from the module graph of the helm it builds", async () => {
  await withTempDir(async (dir) => {
    const helm = toolSpec("helm")!;
    assert.deepEqual(moduleRefs(helm), ["k8s.io/client-go"]);
    const { config, toolbox, runner, log } = await setup(dir, {
      FAKE_VERSION_OUTPUT: `v${helm.version}`,
      // What the fake `go list` prints: the version the module graph selects.
      FAKE_MODULE_DIR: "v0.34.2",
    });
    await buildTool(config, runner, toolbox, helm);
    const calls = await Deno.readTextFile(log);
    assert.match(calls, /^go list -m -f \{\{\.Version\}\} k8s\.io\/client-go$/m);
    assert.match(calls, /^go build .*-X helm\.sh\/helm\/v3\/pkg\/chartutil\.k8sVersionMinor=34 /m);

    // A graph without the module is an error, not a binary with a placeholder in it.
    const bad = await setup(join(dir, "bad"), { FAKE_VERSION_OUTPUT: `v${helm.version}`, FAKE_MODULE_DIR: "" });
    await assert.rejects(
      buildTool(bad.config, bad.runner, bad.toolbox, helm),
      (e) => e instanceof HomelabError && /flags name the version of k8s\.io\/client-go/.test(e.message),
    );
  });
});

Deno.test("HOMELAB_TOOLS_JOBS sets how many builds run at once; anything but a positive integer keeps the default", () => {
  assert.equal(buildJobs({ HOMELAB_TOOLS_JOBS: "3" }), 3);
  for (const bad of ["0", "-1", "1.5", "two", ""]) assert.equal(buildJobs({ HOMELAB_TOOLS_JOBS: bad }), DEFAULT_JOBS);
  assert.equal(buildJobs({}), DEFAULT_JOBS);
});
