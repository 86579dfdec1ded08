/**
 * `.envrc` evaluated by bash with direnv's stdlib functions stubbed (`has`, `use`, `PATH_add`,
 * `watch_file`), so its logic is tested without direnv or Nix.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { envrcScript } from "../lib/envrc.ts";
import { fakeTool, REPO, SYSTEM_PATH, withTempDir } from "./helpers.ts";

async function loadEnvrc(dir: string, env: Record<string, string>) {
  const log = join(dir, "direnv.log");
  await Deno.writeTextFile(log, "");
  const out = await new Deno.Command("bash", {
    args: ["-c", envrcScript("env -0")],
    cwd: REPO,
    env: { STUB_LOG: log, ...env },
    clearEnv: true,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const vars = Object.fromEntries(
    new TextDecoder().decode(out.stdout).split("\0").filter(Boolean).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  return { vars, log: await Deno.readTextFile(log) };
}

Deno.test(".envrc without Nix puts the tool cache and the pinned Deno on PATH and exports repo-local paths", async () => {
  await withTempDir(async (dir) => {
    const version = (await Deno.readTextFile(join(REPO, ".deno-version"))).trim();
    const denoDir = join(dir, "cache", "homelab", "deno", version, "node_modules", "@deno", "linux-x64-glibc");
    await fakeTool(denoDir, "deno", `echo "deno was started" >> "${join(dir, "deno-calls")}"`);
    const bin = join(dir, "bin");
    await fakeTool(bin, "deno", `echo "deno was started" >> "${join(dir, "deno-calls")}"`);

    const { vars, log } = await loadEnvrc(dir, {
      HOME: join(dir, "home"),
      XDG_CACHE_HOME: join(dir, "cache"),
      PATH: `${bin}:${SYSTEM_PATH}`,
    });
    assert.deepEqual(vars.PATH.split(":").slice(0, 2), [denoDir, join(dir, "cache", "homelab", "tools", "bin")]);
    assert.equal(vars.TALOSCONFIG, join(REPO, "talos", "clusterconfig", "talosconfig"));
    assert.equal(vars.KUBECONFIG, join(REPO, ".kube", "config"));
    assert.equal(vars.SOPS_AGE_KEY_FILE, join(dir, "home", ".config", "sops", "age", "keys.txt"));
    assert.match(log, /^watch flake\.nix flake\.lock \.deno-version$/m);
    assert.doesNotMatch(log, /use flake/);
    assert.equal(vars.cache, undefined, "helper variables leak into the environment");
    await assert.rejects(Deno.stat(join(dir, "deno-calls")), Deno.errors.NotFound);
  });
});

Deno.test(".envrc with Nix uses the flake and keeps an existing SOPS_AGE_KEY_FILE", async () => {
  await withTempDir(async (dir) => {
    const { vars, log } = await loadEnvrc(dir, {
      HOME: join(dir, "home"),
      XDG_CONFIG_HOME: join(dir, "cfg"),
      PATH: SYSTEM_PATH,
      STUB_HAS_NIX: "1",
      SOPS_AGE_KEY_FILE: "/keys/mine.txt",
    });
    assert.match(log, /^use flake$/m);
    assert.equal(vars.PATH, SYSTEM_PATH);
    assert.equal(vars.SOPS_AGE_KEY_FILE, "/keys/mine.txt");

    const fresh = await loadEnvrc(dir, {
      HOME: join(dir, "home"),
      XDG_CONFIG_HOME: join(dir, "cfg"),
      PATH: SYSTEM_PATH,
    });
    assert.equal(fresh.vars.SOPS_AGE_KEY_FILE, join(dir, "cfg", "sops", "age", "keys.txt"));
  });
});

Deno.test("the paths .envrc exports for credentials are ignored by git", async () => {
  const out = await new Deno.Command("git", {
    args: [
      "check-ignore",
      "--no-index",
      "talos/clusterconfig/talosconfig",
      ".kube/config",
      "talos/clusterconfig/x.yaml",
    ],
    cwd: REPO,
  }).output();
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout).trim().split("\n").length, 3);
});
