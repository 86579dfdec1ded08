/**
 * The render benchmark: a synthetic tree of N apps, each a chart from a local chart repository
 * (made with `helm create`, `helm package`, `helm repo index`, served on 127.0.0.1 here) with its
 * own values file, measured in one run: the naive baseline (sequential `kustomize build
 * --enable-helm` per app, charts pulled every time, no caches), cold (charts cached, render
 * cache empty), warm (nothing changed) and one app changed, next to that app's own build.
 *
 * @module
 */

import { join } from "node:path";
import { onExit } from "../cleanup.ts";
import { cmd, Runner } from "../cmd.ts";
import type { Config } from "../config.ts";
import { Toolbox } from "../toolbox.ts";
import type { Ui } from "../ui.ts";
import { render } from "./pipeline.ts";

/** One figure of the benchmark. */
export interface Figure {
  readonly name: string;
  readonly ms: number;
  readonly note?: string;
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const r = await fn();
  return [performance.now() - start, r];
}

/** Runs the render benchmark on `n` synthetic apps; returns the figures. */
export async function renderBench(config: Config, n: number, ui: Ui): Promise<Figure[]> {
  const work = Deno.makeTempDirSync({ prefix: "homelab-bench-render-" });
  const dropWork = onExit(() => Deno.remove(work, { recursive: true }).catch(() => {}));
  const site = join(work, "site");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      return new Response(await Deno.readFile(join(site, path)));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const url = `http://127.0.0.1:${server.addr.port}/charts`;
  try {
    const toolbox = new Toolbox(config);
    const runner = new Runner({
      env: { ...config.env, HOME: work },
      resolve: toolbox.resolve,
      defaultTimeout: 300_000,
    });
    const helm = await runner.resolve("helm");

    // The chart repository.
    await Deno.mkdir(join(site, "charts"), { recursive: true });
    await runner.run(cmd("helm", ["create", "bench"], { cwd: work }));
    await runner.run(cmd("helm", ["package", join(work, "bench"), "-d", join(site, "charts")]));
    await runner.run(cmd("helm", ["repo", "index", join(site, "charts"), "--url", url]));

    // The tree: the repository's own root app over N components.
    const tree = join(work, "tree");
    await Deno.mkdir(join(tree, "root"), { recursive: true });
    await Deno.copyFile(join(config.repoRoot, "root", "main.jsonnet"), join(tree, "root", "main.jsonnet"));
    const names = Array.from({ length: n }, (_, i) => `app${String(i + 1).padStart(2, "0")}`);
    await Deno.writeTextFile(
      join(tree, "root", "components.json"),
      JSON.stringify({
        system: names.map((name) => ({ name, namespace: name, wave: 0, purpose: "bench" })),
        platform: [],
        apps: [],
      }),
    );
    await Deno.mkdir(join(tree, "system", "argocd"), { recursive: true });
    await Deno.copyFile(
      join(config.repoRoot, "system", "argocd", "values.yaml"),
      join(tree, "system", "argocd", "values.yaml"),
    );
    for (const [i, name] of names.entries()) {
      const dir = join(tree, "system", name);
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        join(dir, "kustomization.yaml"),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${name}\nresources:\n  - namespace.yaml\n` +
          `helmCharts:\n  - name: bench\n    repo: ${url}\n    version: 0.1.0\n    releaseName: ${name}\n` +
          `    namespace: ${name}\n    valuesFile: values.yaml\n`,
      );
      await Deno.writeTextFile(
        join(dir, "namespace.yaml"),
        `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`,
      );
      await Deno.writeTextFile(join(dir, "values.yaml"), `replicaCount: ${1 + (i % 3)}\n`);
    }

    const benchConfig: Config = {
      ...config,
      repoRoot: tree,
      cacheDir: join(work, "cache"),
      env: { ...config.env, HOME: work },
    };
    const figures: Figure[] = [];

    // Naive: one `kustomize build --enable-helm` after another, each pulling its chart.
    const [baseline] = await time(async () => {
      for (const name of names) {
        await runner.run(cmd("kustomize", ["build", "--enable-helm", "--helm-command", helm, `system/${name}`], {
          cwd: tree,
          readOnly: true,
        }));
        await Deno.remove(join(tree, "system", name, "charts"), { recursive: true });
      }
    });
    figures.push({ name: `naive: sequential kustomize build --enable-helm × ${n}`, ms: baseline });

    // Charts into the cache, then an empty render cache.
    await render(benchConfig, { env: "prod", apps: [names[0]] }, ui);
    await Deno.remove(join(benchConfig.cacheDir, "render", "builds"), { recursive: true });
    const cores = Math.max(1, navigator.hardwareConcurrency || 1);
    const [cold, coldR] = await time(() => render(benchConfig, { env: "prod" }, ui));
    const failed = coldR.apps.filter((a) => a.error);
    if (failed.length) throw new Error(`bench render failed: ${failed[0].error}`);
    figures.push({
      name: "render cold (charts cached, render cache empty)",
      ms: cold,
      note: `goal ≤ 1.25 × baseline ÷ ${cores} cores = ${(1.25 * baseline / cores).toFixed(0)} ms; ` +
        `${(cold / (baseline / cores)).toFixed(2)} × (baseline ÷ cores)`,
    });
    const warms: number[] = [];
    for (let i = 0; i < 5; i++) warms.push((await time(() => render(benchConfig, { env: "prod" }, ui)))[0]);
    const warm = warms.sort((a, b) => a - b)[2];
    figures.push({
      name: "render warm (nothing changed; median of 5)",
      ms: warm,
      note: `goal ≤ 1000 ms and ≥ 20× faster than naive: ${(baseline / warm).toFixed(0)}×`,
    });

    // That app's own build (chart already local), then render after changing its values.
    const changed = names[Math.floor(n / 2)];
    await runner.run(cmd("kustomize", ["build", "--enable-helm", "--helm-command", helm, `system/${changed}`], {
      cwd: tree,
      readOnly: true,
    }));
    const [own] = await time(() =>
      runner.run(cmd("kustomize", ["build", "--enable-helm", "--helm-command", helm, `system/${changed}`], {
        cwd: tree,
        readOnly: true,
      }))
    );
    await Deno.remove(join(tree, "system", changed, "charts"), { recursive: true });
    figures.push({ name: `one app's own build (kustomize, chart local)`, ms: own });
    await Deno.writeTextFile(join(tree, "system", changed, "values.yaml"), "replicaCount: 7\n");
    const [one, oneR] = await time(() => render(benchConfig, { env: "prod" }, ui));
    const rebuilt = oneR.apps.filter((a) => !a.cached).map((a) => a.app.name);
    figures.push({
      name: "render with one app changed",
      ms: one,
      note: `rebuilt ${rebuilt.join(", ")}; goal ≤ 1.5 × own build: ${(one / own).toFixed(2)}×`,
    });
    return figures;
  } finally {
    await server.shutdown();
    await dropWork();
  }
}
