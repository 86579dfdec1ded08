/**
 * The health checks of `system/argocd/values.yaml` (argocd-cm `resource.customizations.health.*`),
 * judged by Argo CD itself: `argocd admin settings resource-overrides health` runs the pinned
 * release's Lua engine on an object with the repository's argocd-cm.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { Runner } from "../lib/cmd.ts";
import { cmd } from "../lib/cmd.ts";
import { REPO, withTempDir } from "./helpers.ts";
import { toolRunner } from "./kube_helpers.ts";

/** argocd-cm as the argo-cd chart makes it: `configs.cm` of the values, verbatim. */
async function argocdCm(dir: string): Promise<string> {
  const values = parse(await Deno.readTextFile(join(REPO, "system", "argocd", "values.yaml"))) as {
    configs: { cm: Record<string, string> };
  };
  const file = join(dir, "argocd-cm.yaml");
  await Deno.writeTextFile(
    file,
    stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "argocd-cm" }, data: values.configs.cm }),
  );
  return file;
}

/** Argo CD's verdict on `object`: `STATUS: message`. */
async function health(runner: Runner, cm: string, dir: string, object: unknown): Promise<string> {
  const file = join(dir, "object.yaml");
  await Deno.writeTextFile(file, stringify(object));
  const r = await runner.run(
    cmd("argocd", ["admin", "settings", "resource-overrides", "health", file, "--argocd-cm-path", cm], {
      env: { ARGOCD_BINARY_NAME: "argocd", HOME: dir },
      readOnly: true,
    }),
    { check: false },
  );
  const out = `${r.stdout}${r.stderr}`;
  const status = /STATUS: (\w+)/.exec(out)?.[1];
  const message = /MESSAGE: (.*)/.exec(out)?.[1] ?? "";
  assert.ok(status, `argocd said:\n${out}`);
  return `${status}: ${message}`;
}

const app = (status: Record<string, unknown>) => ({
  apiVersion: "argoproj.io/v1alpha1",
  kind: "Application",
  metadata: { name: "child", namespace: "argocd" },
  spec: {},
  status,
});

Deno.test("the app-of-apps health check: a child counts as healthy only when Synced, Healthy and not syncing", async () => {
  await withTempDir(async (dir) => {
    const runner = toolRunner();
    const cm = await argocdCm(dir);
    const judge = (o: unknown) => health(runner, cm, dir, o);
    assert.match(await judge(app({})), /^Progressing/);
    assert.match(
      await judge(app({ sync: { status: "Synced" }, health: { status: "Healthy" } })),
      /^Healthy/,
    );
    // Its own sync still runs: the next wave must wait (the check once copied the child's health only).
    assert.match(
      await judge(app({
        sync: { status: "Synced" },
        health: { status: "Healthy" },
        operationState: { phase: "Running", message: "waiting for healthy state" },
      })),
      /^Progressing: its sync is under way/,
    );
    assert.match(
      await judge(app({ sync: { status: "OutOfSync" }, health: { status: "Healthy" } })),
      /^Progressing: not Synced yet/,
    );
    assert.match(
      await judge(app({
        sync: { status: "Synced" },
        health: { status: "Healthy" },
        operationState: { phase: "Failed", message: "one or more objects failed to apply" },
      })),
      /^Progressing: last sync Failed: one or more objects failed to apply/,
    );
    assert.match(
      await judge(app({ sync: { status: "Synced" }, health: { status: "Degraded", message: "pod crashed" } })),
      /^Degraded: pod crashed/,
    );
  });
});

Deno.test("the CNPG Cluster health check: no Lua error before the operator's first status", async () => {
  await withTempDir(async (dir) => {
    const runner = toolRunner();
    const cm = await argocdCm(dir);
    const cluster = (status?: Record<string, unknown>) => ({
      apiVersion: "postgresql.cnpg.io/v1",
      kind: "Cluster",
      metadata: { name: "db", namespace: "keycloak" },
      spec: { instances: 1 },
      ...(status ? { status } : {}),
    });
    // Argo CD's built-in check raises "attempt to index a nil value" here.
    assert.match(await health(runner, cm, dir, cluster()), /^Progressing: waiting for the operator's first status/);
    assert.match(
      await health(runner, cm, dir, cluster({ phase: "Setting up primary", phaseReason: "creating" })),
      /^Progressing: creating/,
    );
    assert.match(
      await health(runner, cm, dir, cluster({ phase: "Cluster in healthy state", phaseReason: "ok" })),
      /^Healthy/,
    );
    assert.match(
      await health(runner, cm, dir, cluster({ phase: "Failing over", phaseReason: "primary lost" })),
      /^Degraded: primary lost/,
    );
  });
});
