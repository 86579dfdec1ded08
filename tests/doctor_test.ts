import assert from "node:assert/strict";
import { join } from "node:path";
import type { Report } from "../lib/doctor.ts";
import { binariesOf, TOOLS, toolSpec } from "../lib/tools.ts";
import { fakeTool, runTask, SYSTEM_PATH, withTempDir } from "./helpers.ts";

const sops = toolSpec("sops")!;

async function doctor(dir: string, bin: string, extra: Record<string, string> = {}) {
  const r = await runTask("doctor", ["--json", "--for", "secrets", "talos", "test"], {
    PATH: `${bin}:${SYSTEM_PATH}`,
    HOME: join(dir, "home"),
    XDG_CACHE_HOME: join(dir, "cache"),
    XDG_CONFIG_HOME: join(dir, "config"),
    ...extra,
  });
  return { ...r, report: JSON.parse(r.stdout) as Report };
}

Deno.test("doctor --json reports a missing tool and a missing age key", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "sops", `echo "sops ${sops.version}"`);
    await fakeTool(bin, "helm", `echo "v3.9.0"`);
    await fakeTool(
      bin,
      "docker",
      `if [ "$1" = version ]; then echo 28.2.2; exit 0; fi; echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1`,
    );

    const { code, report } = await doctor(dir, bin);
    assert.equal(code, 1);
    assert.equal(report.ok, false);
    const tool = (name: string) => report.tools.find((t) => t.binary === name)!;
    assert.equal(tool("sops").status, "ok");
    assert.equal(tool("sops").path, join(bin, "sops"));
    assert.equal(tool("talhelper").status, "missing");
    assert.match(tool("talhelper").fix ?? "", /deno task tools/);
    assert.equal(tool("helm").status, "wrong");
    assert.equal(tool("helm").version, "3.9.0");
    assert.equal(tool("ksops").buildable, false);

    assert.equal(report.ageKey.ok, false);
    assert.deepEqual(report.ageKey.locations.map((l) => [l.via, l.set, l.exists]), [
      ["SOPS_AGE_KEY_FILE", false, false],
      ["SOPS_AGE_KEY", false, false],
      ["default", true, false],
    ]);
    assert.equal(report.ageKey.locations[2].path, join(dir, "config", "sops", "age", "keys.txt"));
    assert.ok(report.problems.some((p) => p.startsWith("no age key found")));
    assert.ok(report.problems.some((p) => p.startsWith("talhelper is missing (needed for secrets, talos, test)")));
    assert.ok(report.problems.some((p) => p.includes("run `deno task secrets init`")));
    assert.ok(!report.problems.some((p) => p.includes("age-keygen -o")));
    assert.equal(report.containerRuntime.ok, false);
    assert.equal(report.containerRuntime.client, "28.2.2");
  });
});

Deno.test("doctor finds an age key at SOPS_AGE_KEY_FILE and never prints it", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    const keyFile = join(dir, "my keys.txt");
    // Built at run time, so the test source holds no key `secrets check` would flag.
    const key = ["AGE", "SECRET", "KEY", `1${"Q".repeat(58)}`].join("-");
    await Deno.writeTextFile(keyFile, `# created: now\n# public key: age1xyz\n${key}\n`, { mode: 0o644 });
    await Deno.chmod(keyFile, 0o644);

    const { stdout, report } = await doctor(dir, bin, { SOPS_AGE_KEY_FILE: keyFile });
    assert.equal(report.ageKey.ok, true);
    assert.deepEqual(report.ageKey.locations[0], {
      via: "SOPS_AGE_KEY_FILE",
      path: keyFile,
      set: true,
      exists: true,
      keys: 1,
      mode: "644",
    });
    assert.ok(report.problems.some((p) => p.includes(`chmod 600 ${keyFile}`)));
    assert.ok(!stdout.includes(key));

    const table = await runTask("doctor", ["--for", "test"], {
      PATH: `${bin}:${SYSTEM_PATH}`,
      HOME: join(dir, "home"),
      XDG_CACHE_HOME: join(dir, "cache"),
      SOPS_AGE_KEY_FILE: keyFile,
    });
    assert.match(table.stdout, /age key\s+SOPS_AGE_KEY_FILE .*my keys\.txt: 1 key\(s\), mode 644/);
    assert.ok(!table.stdout.includes(key) && !table.stderr.includes(key));
  });
});

Deno.test("doctor sees a running container engine through `docker info`", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    await fakeTool(bin, "docker", `case "$1" in info) echo 28.3.0 ;; version) echo 28.2.2 ;; esac`);
    const { report } = await doctor(dir, bin);
    assert.deepEqual(report.containerRuntime, {
      ok: true,
      client: "28.2.2",
      server: "28.3.0",
      detail: "engine 28.3.0 is running",
    });
    assert.ok(!report.problems.some((p) => p.startsWith("container runtime")));
  });
});

/** What each tool's version command prints, where it is not just `vX.Y.Z`. */
const VERSION_OUTPUT: Record<string, (v: string) => string> = {
  kubectl: (v) => `Client Version: v${v}`,
  talhelper: (v) => `talhelper version ${v}`,
  talosctl: (v) => `Talos v${v}`,
  jsonnet: (v) => `Jsonnet commandline interpreter (Go implementation) v${v}`,
  kind: (v) => `kind v${v} go1.26`,
  sops: (v) => `sops ${v}`,
  "kube-apiserver": (v) => `Kubernetes v${v}`,
  etcd: (v) => `etcd Version: ${v}`,
  kwok: (v) => `kwok version v${v}`,
  psa: (v) => `psa v${v}`,
  argocd: (v) => `argocd: v${v}+unknown`,
  miniredis: (v) => `miniredis v${v}`,
};

Deno.test("doctor checks only what the existing tasks need: ksops and a container engine fail nothing", async () => {
  await withTempDir(async (dir) => {
    const bin = join(dir, "bin");
    // Every tool a task of this checkout runs, at its pinned version; no ksops, no docker.
    for (const spec of TOOLS.filter((t) => t.neededFor.length)) {
      for (const b of binariesOf(spec)) {
        const out = VERSION_OUTPUT[spec.name]?.(spec.version) ?? `v${spec.version}`;
        await fakeTool(bin, b, `echo "${out}"`);
      }
    }
    const keyFile = join(dir, "keys.txt");
    await Deno.writeTextFile(keyFile, `${["AGE", "SECRET", "KEY", `1${"Q".repeat(58)}`].join("-")}\n`, { mode: 0o600 });
    await Deno.chmod(keyFile, 0o600);
    const env = {
      PATH: `${bin}:${SYSTEM_PATH}`,
      HOME: join(dir, "home"),
      XDG_CACHE_HOME: join(dir, "cache"),
      XDG_CONFIG_HOME: join(dir, "config"),
      SOPS_AGE_KEY_FILE: keyFile,
    };
    for (const args of [[], ["--for", "secrets", "talos", "check", "server", "test"]]) {
      const r = await runTask("doctor", ["--json", ...args], env);
      const report = JSON.parse(r.stdout) as Report;
      assert.deepEqual(report.problems, [], r.stdout);
      assert.equal(r.code, 0);
      assert.equal(report.tools.find((t) => t.name === "ksops")?.status, "missing");
      assert.equal(report.containerRuntime.ok, false);
    }
    const old = await runTask("doctor", ["--for", "deploy"], env);
    assert.equal(old.code, 2, "a purpose no task has is a usage error");
  });
});
