import assert from "node:assert/strict";
import { join } from "node:path";
import type { KubeObject, RenderedApp, Rendering } from "../render/model.ts";
import { checkComponents } from "./components.ts";
import { checkCrdSizes } from "./crdsize.ts";
import { renderedApp } from "../../tests/apps.ts";

function app(name: string, path: string, objects: KubeObject[] = [], syncOptions: string[] = []): RenderedApp {
  return renderedApp(name, objects, { path, syncOptions });
}

Deno.test("components: every folder has an Application and every Application a folder; dev exclusions", async () => {
  const root = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    for (const dir of ["system/a", "system/a/dev", "system/b", "platform/c"]) {
      await Deno.mkdir(join(root, dir), { recursive: true });
      await Deno.writeTextFile(join(root, dir, "kustomization.yaml"), "resources: []\n");
    }
    await Deno.mkdir(join(root, "root"));
    await Deno.writeTextFile(
      join(root, "root", "components.json"),
      JSON.stringify({
        system: [{ name: "a" }, { name: "b", dev: { exclude: "needs real disks" } }],
        platform: [{ name: "c" }],
        apps: [],
      }),
    );
    const prod: Rendering = {
      env: "prod",
      root: [],
      apps: [app("a", "system/a"), app("b", "system/b"), app("typo", "platform/cc")],
    };
    const found = await checkComponents(root, prod);
    assert.deepEqual(found.map((f) => [f.app, f.message.split(" ").slice(0, 5).join(" ")]), [
      ["cluster", "platform/c is a component folder"],
      ["typo", "its source path platform/cc is"],
    ]);
    // dev: a's dev variant counts for system/a; b is excluded from dev on purpose.
    const dev: Rendering = { env: "dev", root: [], apps: [app("a", "system/a/dev"), app("c", "platform/c")] };
    assert.deepEqual(await checkComponents(root, dev), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CRD size: over 256 KiB needs ServerSideApply=true", () => {
  const big: KubeObject = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "bigs.example.com" },
    spec: { description: "x".repeat(300 * 1024) },
  };
  const small: KubeObject = { ...big, metadata: { name: "smalls.example.com" }, spec: {} };
  const found = checkCrdSizes(app("op", "system/op", [big, small]));
  assert.equal(found.length, 1);
  assert.equal(found[0].object?.name, "bigs.example.com");
  assert.match(found[0].message, /is 301 KiB, over the 256 KiB .* serverSideApply: true/);
  assert.deepEqual(checkCrdSizes(app("op", "system/op", [big], ["ServerSideApply=true"])), []);
  assert.deepEqual(checkCrdSizes(app("op", "system/op", [big], ["CreateNamespace=true", "ServerSideApply=true"])), []);
  // Named but off: a client-side apply, which cannot store the CRD.
  for (const off of [["ServerSideApply=false"], ["ServerSideApply"]]) {
    const found = checkCrdSizes(app("op", "system/op", [big, small], off));
    assert.deepEqual(found.map((f) => f.object?.name), ["bigs.example.com"], `syncOptions ${JSON.stringify(off)}`);
  }
  // The limit is on the bytes: multi-byte characters count for what they weigh.
  const wide: KubeObject = { ...big, spec: { description: "\u00e9".repeat(130 * 1024) } };
  assert.equal(checkCrdSizes(app("op", "system/op", [wide])).length, 1);
  const under: KubeObject = { ...big, spec: { description: "x".repeat(250 * 1024) } };
  assert.deepEqual(checkCrdSizes(app("op", "system/op", [under])), []);
  // The object's own sync options count as Argo CD counts them.
  const withOptions = (options: string): KubeObject => ({
    ...big,
    metadata: { ...big.metadata, annotations: { "argocd.argoproj.io/sync-options": options } },
  });
  assert.deepEqual(checkCrdSizes(app("op", "system/op", [withOptions("ServerSideApply=true")])), []);
  const ssa = ["ServerSideApply=true"];
  for (const options of ["ServerSideApply=false", "Prune=false, ServerSideApply=false", "Replace=true"]) {
    assert.equal(checkCrdSizes(app("op", "system/op", [withOptions(options)], ssa)).length, 1, options);
  }
  assert.equal(checkCrdSizes(app("op", "system/op", [big], ["ServerSideApply=true", "Replace=true"])).length, 1);
});
