/**
 * The render pipeline end to end with the real kustomize, helm, sops, age and jsonnet, against a
 * chart repository this test serves on 127.0.0.1.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cmd, Runner } from "../lib/cmd.ts";
import { UsageError } from "../lib/errors.ts";
import { diffRenderings, formatMarkdown } from "../lib/render/diff.ts";
import type { Rendering } from "../lib/render/model.ts";
import { ChartCache } from "../lib/render/charts.ts";
import { ARGOCD_VALUES, render } from "../lib/render/pipeline.ts";
import { chartsImportCommand, DIFF_INCOMPLETE, diffCommand, renderCommand, toYaml } from "../lib/tasks/render.ts";
import type { Ui } from "../lib/ui.ts";
import { fakeTool, tempConfig } from "./helpers.ts";
import {
  fixtureRepo,
  git,
  makeCharts,
  renderToolsPath,
  serve,
  WEB_PASSWORD,
  WEB_TOKEN,
  writeWebSecret,
} from "./render_helpers.ts";

function quietUi(lines: string[] = []): Ui {
  return {
    info: (l) => lines.push(l),
    warn: (l) => lines.push(`warning: ${l}`),
    progress: (_label, fn) => fn(),
  };
}

function app(r: Rendering, name: string) {
  const a = r.apps.find((x) => x.app.name === name);
  assert.ok(a, `no app ${name}`);
  return a;
}

async function sha256File(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("render: pull, cache, build, redact, offline, import, render cache, diff", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "homelab-test-" });
  const site = join(work, "site");
  const server = serve(site);
  try {
    const realPath = await renderToolsPath();
    // Wrappers on PATH log every tool invocation, then run the real tool.
    const wrappers = join(work, "wrappers");
    const log = join(work, "tools.log");
    // The next kustomize build starts 1.1 s late when `slowOnce` exists (taken by that build).
    const slowOnce = join(work, "slow-once");
    for (const tool of ["kustomize", "helm", "sops", "jsonnet"]) {
      await fakeTool(
        wrappers,
        tool,
        `echo "${tool} $*" >> "${log}"\n` +
          (tool === "kustomize" ? `if rm "${slowOnce}" 2>/dev/null; then sleep 1.1; fi\n` : "") +
          `PATH="${realPath}:$PATH" exec ${tool} "$@"`,
      );
    }
    const path = `${wrappers}:${realPath}`;
    const setupRunner = new Runner({ env: { PATH: realPath, HOME: work } });
    await makeCharts(setupRunner, work, site, server.url);
    const { config, repo, runner, keyFile } = await fixtureRepo(work, server.url, path);
    const readLog = async () => (await Deno.readTextFile(log).catch(() => "")).split("\n").filter(Boolean);

    let first!: Rendering;
    await t.step("first render pulls each chart once into the content-addressed cache", async () => {
      first = await render(config, { env: "prod" }, quietUi());
      const web = app(first, "web");
      assert.equal(web.error, undefined, web.error);
      assert.ok(web.objects.some((o) => o.kind === "Deployment" && o.metadata.name === "web"));
      const served = await sha256File(join(site, "charts", "web-0.1.0.tgz"));
      const blob = join(config.cacheDir, "charts", "blobs", `${served}.tgz`);
      assert.ok(await Deno.stat(blob), "the cached chart is named by the sha256 of the package");
      assert.equal(server.requests.filter((p) => p === "/charts/web-0.1.0.tgz").length, 1);
      assert.equal(web.cached, false);
      assert.equal(app(first, "plain").objects.map((o) => o.metadata.name).sort().join(","), "plain,shared");
      // oci:// too: the same package, through the registry, into the same content-addressed blob.
      const oci = app(first, "oci-web");
      assert.equal(oci.error, undefined, oci.error);
      assert.ok(oci.objects.some((o) => o.kind === "Deployment" && o.metadata.name === "oci-web"));
      assert.ok(server.requests.includes("/v2/charts/web/manifests/0.1.0"));
      assert.ok(server.requests.includes(`/v2/charts/web/blobs/sha256:${served}`));
    });

    await t.step(
      "a chart sees the API versions the cluster serves once synced: built-ins, the tree's and run-time CRDs",
      async () => {
        const capable = app(first, "capable");
        assert.equal(capable.error, undefined, capable.error);
        assert.deepEqual(capable.objects.map((o) => o.metadata.name).sort(), [
          "capable-always",
          "capable-cilium",
          "capable-monitoring",
        ]);
        const builds = (await readLog()).filter((l) => l.startsWith("kustomize build platform/capable "));
        // A fresh cache assumes no CRDs: built without monitoring.coreos.com/v1, then with the CRD the tree renders.
        assert.equal(builds.length, 2, builds.join("\n"));
        assert.doesNotMatch(builds[0], /monitoring\.coreos\.com/);
        // The run-time CRDs (schemas/runtime-crds.yaml) are there from the start.
        assert.match(builds[0], / --helm-api-versions cilium\.io\/v2\/CiliumNetworkPolicy /);
        assert.match(builds[1], / --helm-api-versions monitoring\.coreos\.com\/v1 /);
        assert.match(builds[1], / --helm-api-versions monitoring\.coreos\.com\/v1\/ServiceMonitor( |$)/);
        // The built-ins come from the pinned kube-apiserver's discovery, cached per version.
        assert.match(builds[1], / --helm-api-versions apps\/v1\/Deployment /);
        assert.match(builds[1], / --helm-api-versions v1\/ConfigMap /);
        assert.ok(await Deno.stat(join(config.cacheDir, "schemas", "discovery")));
        // An app whose charts do not read the set is built without it.
        const web = (await readLog()).filter((l) => l.startsWith("kustomize build system/web "));
        assert.ok(web.length && web.every((l) => !l.includes("--helm-api-versions")), web.join("\n"));
      },
    );

    await t.step("an unknown --app is a usage error listing the Applications", async () => {
      await assert.rejects(
        render(config, { env: "prod", apps: ["nope"] }, quietUi()),
        (e: unknown) =>
          e instanceof UsageError && /no Application named nope/.test(e.message) && /web/.test(e.hint ?? ""),
      );
    });

    await t.step("a chart that emits its own Namespace under namespace: fails as one paragraph", () => {
      const e = app(first, "ns-conflict").error ?? "";
      assert.match(
        e,
        /^app ns-conflict: `kustomize build system\/ns-conflict` failed \(system\/ns-conflict\/kustomization\.yaml\)/,
      );
      assert.match(e, /Namespace.*Name:"ns-conflict".* exists; can not use behavior/);
      assert.match(e, /hint: the chart creates an object .* \(often its Namespace\)/);
      assert.doesNotMatch(e, /homelab-render-/, "no temporary paths in the message");
    });

    await t.step("a remote manifest that creates the Namespace again fails, fetched once through the cache", () => {
      const e = app(first, "remote-dup").error ?? "";
      assert.match(e, /^app remote-dup: .*platform\/remote-dup\/kustomization\.yaml/);
      assert.match(e, /may not add resource with an already registered id/);
      assert.match(e, /hint: two sources create the same object/);
      assert.equal(server.requests.filter((p) => p === "/manifests/operator.yaml").length, 1);
    });

    await t.step("a chart that renders a random value is recorded as unstable", () => {
      const u = app(first, "unstable");
      assert.equal(u.error, undefined, u.error);
      assert.deepEqual(u.unstable, [{
        // kustomize 5.8 leaves Helm output alone: no namespace unless the chart sets one.
        ref: { apiVersion: "v1", kind: "Secret", name: "random-token" },
        pointers: ["/stringData/token"],
      }]);
      assert.deepEqual(app(first, "web").unstable, []);
    });

    await t.step(
      "a chart whose output varies only with the clock is built twice and recorded as unstable",
      async () => {
        const c = app(first, "clock");
        assert.equal(c.error, undefined, c.error);
        assert.deepEqual(c.unstable, [{
          ref: { apiVersion: "v1", kind: "ConfigMap", name: "clock-stamp" },
          pointers: ["/data/renderedAt"],
        }]);
        // Even when the first build is slow to start: the second starts over a second after it ended.
        await Deno.writeTextFile(join(repo, "platform/clock/values.yaml"), "slow: true\n");
        const k = join(repo, "platform/clock/kustomization.yaml");
        await Deno.writeTextFile(k, (await Deno.readTextFile(k)) + "    valuesFile: values.yaml\n");
        await Deno.writeTextFile(slowOnce, "");
        await Deno.remove(log).catch(() => {});
        const slow = app(await render(config, { env: "prod", apps: ["clock"] }, quietUi()), "clock");
        assert.equal(slow.cached, false);
        assert.deepEqual(
          (await readLog()).filter((l) => l.startsWith("kustomize build")).map((l) => l.split(" ")[2]),
          ["platform/clock", "platform/clock"],
        );
        assert.deepEqual(slow.unstable?.map((u) => u.pointers), [["/data/renderedAt"]]);
        git(repo, "checkout", "--", "platform/clock");
        await Deno.remove(join(repo, "platform/clock/values.yaml"));
      },
    );

    await t.step("secret values are digests; no decrypted value in the output", () => {
      const web = app(first, "web");
      assert.equal(web.secrets, "digest");
      const secretObj = web.objects.find((o) => o.kind === "Secret" && o.metadata.name === "web-credentials");
      assert.ok(secretObj, "the KSOPS Secret is rendered");
      assert.equal(secretObj.metadata.namespace, "web");
      const data = secretObj.stringData as Record<string, string>;
      assert.match(data.password, /^sha256:[0-9a-f]{16}$/);
      assert.notEqual(data.password, data.username);
      const token = atob((secretObj.data as Record<string, string>).token);
      assert.match(token, /^sha256:[0-9a-f]{16}$/, "data values: the base64 of a digest");
      const all = first.apps.map((a) => toYaml(a.objects)).join("");
      assert.ok(!all.includes(WEB_PASSWORD));
      assert.ok(!all.includes(btoa(WEB_TOKEN)));
      assert.ok(!all.includes("admin"));
    });

    await t.step("render's printed output holds no decrypted value", async () => {
      let out = "";
      const lines: string[] = [];
      const code = await renderCommand(config, { env: "prod", apps: ["web"] }, quietUi(lines), (s) => out += s);
      assert.equal(code, 0);
      assert.match(out, /kind: Secret/);
      assert.match(out, /password: sha256:[0-9a-f]{16}/);
      assert.ok(!`${out}${lines.join("\n")}`.includes(WEB_PASSWORD));
      const outDir = join(work, "out");
      assert.equal(await renderCommand(config, { env: "prod", apps: ["web"], out: outDir }, quietUi(), () => {}), 0);
      assert.ok(!(await Deno.readTextFile(join(outDir, "web.yaml"))).includes(WEB_PASSWORD));
      assert.match(await Deno.readTextFile(join(outDir, "root.yaml")), /kind: Application/);
    });

    await t.step("--show-secrets reveals, without a rebuild", async () => {
      await Deno.remove(log).catch(() => {});
      const shown = await render(config, { env: "prod", apps: ["web"], showSecrets: true }, quietUi());
      const web = app(shown, "web");
      assert.equal(web.secrets, "shown");
      assert.equal(web.cached, true);
      const s = web.objects.find((o) => o.kind === "Secret")!.stringData as Record<string, string>;
      assert.equal(s.password, WEB_PASSWORD);
      const d = web.objects.find((o) => o.kind === "Secret")!.data as Record<string, string>;
      assert.equal(d.token, btoa(WEB_TOKEN));
      assert.deepEqual((await readLog()).map((l) => l.split(" ")[0]), ["sops"], "only sops ran, to reveal");
    });

    await t.step("no key: placeholders, and render says so", async () => {
      const noKey = { ...tempConfig(join(work, "nokey"), path), repoRoot: repo };
      const lines: string[] = [];
      const r = await render(noKey, { env: "prod", apps: ["web"] }, quietUi(lines));
      const web = app(r, "web");
      assert.equal(web.secrets, "placeholder");
      const s = web.objects.find((o) => o.kind === "Secret")!.stringData as Record<string, string>;
      assert.equal(s.password, "<no key: not decrypted>");
      assert.equal(await renderCommand(noKey, { env: "prod", apps: ["web"] }, quietUi(lines), () => {}), 0);
      assert.match(lines.join("\n"), /warning: no age key opened some SOPS files: their values are placeholders/);
    });

    await t.step("the age keys at hand are part of the key: a key found later replaces the placeholders", async () => {
      const withKeys = (env: Record<string, string>) => ({
        ...tempConfig(join(work, "nokey"), path, env),
        repoRoot: repo,
      });
      const password = (r: Rendering) =>
        (app(r, "web").objects.find((o) => o.kind === "Secret")!.stringData as Record<string, string>).password;
      const keyed = await render(withKeys({ SOPS_AGE_KEY_FILE: keyFile }), { env: "prod", apps: ["web"] }, quietUi());
      assert.deepEqual([app(keyed, "web").cached, app(keyed, "web").secrets], [false, "digest"]);
      assert.match(password(keyed), /^sha256:[0-9a-f]{16}$/);
      // The same key given in SOPS_AGE_KEY: the same build, from the cache.
      const inline = (await Deno.readTextFile(keyFile)).split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
      const again = await render(withKeys({ SOPS_AGE_KEY: inline }), { env: "prod", apps: ["web"] }, quietUi());
      assert.deepEqual([app(again, "web").cached, password(again)], [true, password(keyed)]);
      // Another key, which opens nothing: built again, with placeholders.
      const other = join(work, "other-age.txt");
      await runner.run(cmd("age-keygen", ["-o", other]));
      const wrong = await render(withKeys({ SOPS_AGE_KEY_FILE: other }), { env: "prod", apps: ["web"] }, quietUi());
      assert.deepEqual([app(wrong, "web").cached, app(wrong, "web").secrets], [false, "placeholder"]);
      // No key again: the placeholder build of before.
      const none = await render(withKeys({}), { env: "prod", apps: ["web"] }, quietUi());
      assert.deepEqual([app(none, "web").cached, password(none)], [true, "<no key: not decrypted>"]);
    });

    await t.step("a tampered secret file fails its app with the diagnosis secrets decrypt gives", async () => {
      const file = "system/web/web-credentials.sops.yaml";
      const text = await Deno.readTextFile(join(repo, file));
      assert.match(text, /type: Opaque/);
      // An unencrypted value changed after encryption: the key is there, the MAC fails.
      await Deno.writeTextFile(join(repo, file), text.replace("type: Opaque", "type: Tampered"));
      try {
        const lines: string[] = [];
        assert.equal(await renderCommand(config, { env: "prod", apps: ["web"] }, quietUi(lines), () => {}), 1);
        const said = lines.join("\n");
        assert.match(
          said,
          /error: app web: system\/web\/web-credentials\.sops\.yaml: does not decrypt: its content was changed after it was encrypted \(integrity check failed\)\nhint: restore it from git/,
        );
        assert.doesNotMatch(said, /placeholders|secrets init/);
      } finally {
        await Deno.writeTextFile(join(repo, file), text);
      }
    });

    await t.step("an unchanged tree runs no tool", async () => {
      await Deno.remove(log).catch(() => {});
      const again = await render(config, { env: "prod", apps: ["web", "unstable", "plain"] }, quietUi());
      assert.deepEqual(await readLog(), []);
      assert.ok(again.apps.every((a) => a.cached));
      assert.deepEqual(app(again, "unstable").unstable?.length, 1, "the cache keeps what was unstable");
    });

    await t.step("a changed values file rebuilds exactly that app", async () => {
      await Deno.writeTextFile(join(repo, "system/web/values.yaml"), "replicaCount: 3\n");
      await Deno.remove(log).catch(() => {});
      const r = await render(config, { env: "prod", apps: ["web", "unstable", "plain"] }, quietUi());
      const builds = (await readLog()).filter((l) => l.startsWith("kustomize build"));
      // Once: the web chart's templates call nothing that varies between runs.
      assert.deepEqual(builds.map((l) => l.split(" ")[2]), ["system/web"]);
      assert.deepEqual(r.apps.map((a) => [a.app.name, a.cached]), [["web", false], ["unstable", true], [
        "plain",
        true,
      ]]);
      const deploy = app(r, "web").objects.find((o) => o.kind === "Deployment")!;
      assert.equal((deploy.spec as { replicas: number }).replicas, 3);
    });

    await t.step("a file outside the app's folder is part of its key", async () => {
      await Deno.writeTextFile(
        join(repo, "shared/base/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  colour: green\n",
      );
      await Deno.remove(log).catch(() => {});
      const r = await render(config, { env: "prod", apps: ["web", "plain"] }, quietUi());
      assert.deepEqual(r.apps.map((a) => [a.app.name, a.cached]), [["web", true], ["plain", false]]);
      git(repo, "checkout", "--", "shared", "system/web/values.yaml");
    });

    await t.step("Argo CD's build options and the Kubernetes version are part of every app's key", async () => {
      const cached = async () =>
        (await render(config, { env: "prod", apps: ["web", "plain"] }, quietUi())).apps.map((a) => a.cached);
      // The apps built, each only with `flag` on its command line.
      const builds = async (flag: string) => {
        const lines = (await readLog()).filter((l) => l.startsWith("kustomize build"));
        assert.ok(lines.every((l) => l.includes(flag)), lines.join("\n"));
        return [...new Set(lines.map((l) => l.split(" ")[2]))].sort();
      };
      assert.deepEqual(await cached(), [true, true]);
      const values = join(repo, ARGOCD_VALUES);
      const original = await Deno.readTextFile(values);
      await Deno.writeTextFile(
        values,
        original.replace("--enable-helm", "--enable-helm --load-restrictor LoadRestrictionsNone"),
      );
      await Deno.remove(log).catch(() => {});
      assert.deepEqual(await cached(), [false, false]);
      assert.deepEqual(await builds(" --load-restrictor LoadRestrictionsNone "), ["platform/plain", "system/web"]);
      await Deno.writeTextFile(values, original);
      assert.deepEqual(await cached(), [true, true], "the builds with the old options serve again");
      // The version Argo CD passes to Helm (talos/talconfig.yaml).
      const talconfig = join(repo, "talos", "talconfig.yaml");
      const pinned = await Deno.readTextFile(talconfig);
      assert.match(pinned, /^kubernetesVersion: v1\.37\./m);
      try {
        for (const version of ["v1.34.1", "v1.35.0"]) {
          await Deno.writeTextFile(
            talconfig,
            pinned.replace(/^kubernetesVersion: .*$/m, `kubernetesVersion: ${version}`),
          );
          await Deno.remove(log).catch(() => {});
          assert.deepEqual(await cached(), [false, false], version);
          assert.deepEqual(await builds(`--helm-kube-version ${version}`), ["platform/plain", "system/web"]);
        }
      } finally {
        await Deno.writeTextFile(talconfig, pinned);
      }
      assert.deepEqual(await cached(), [true, true]);
    });

    await t.step("the API versions are part of the render cache key", async () => {
      const crd = "platform/monitoring-crds/servicemonitors.yaml";
      // Without its CRD, the cluster would not serve monitoring.coreos.com/v1; the chart's files are unchanged.
      await Deno.writeTextFile(join(repo, crd), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: no-crd\n");
      try {
        const without = await render(config, { env: "prod", apps: ["capable"] }, quietUi());
        assert.deepEqual(without.apps.map((a) => a.app.name), ["capable"], "only the app asked for");
        assert.deepEqual(app(without, "capable").objects.map((o) => o.metadata.name).sort(), [
          "capable-always",
          "capable-cilium",
        ]);
      } finally {
        git(repo, "checkout", "--", crd);
      }
      await Deno.remove(log).catch(() => {});
      const again = await render(config, { env: "prod", apps: ["capable"] }, quietUi());
      assert.deepEqual(app(again, "capable").objects.map((o) => o.metadata.name).sort(), [
        "capable-always",
        "capable-cilium",
        "capable-monitoring",
      ]);
      assert.equal(app(again, "capable").cached, true);
      assert.deepEqual((await readLog()).filter((l) => l.startsWith("kustomize build platform/capable ")), []);
    });

    await t.step("--offline with an empty cache names the chart and the command to fetch it", async () => {
      const fresh = {
        ...tempConfig(join(work, "fresh"), path, { SOPS_AGE_KEY_FILE: join(work, "age.txt") }),
        repoRoot: repo,
      };
      const r = await render(fresh, { env: "prod", apps: ["web"], offline: true }, quietUi());
      const e = app(r, "web").error ?? "";
      assert.match(e, /chart web 0\.1\.0 from http:\/\/127\.0\.0\.1:\d+\/charts is not in the chart cache/);
      assert.match(e, /deno task charts import DIR/);

      const before = server.requests.length;
      const lines: string[] = [];
      assert.equal(await chartsImportCommand(fresh, join(site, "charts"), quietUi(lines)), 0);
      assert.match(lines.join("\n"), /imported web 0\.1\.0/);
      const offline = await render(fresh, { env: "prod", apps: ["web", "unstable"], offline: true }, quietUi());
      assert.equal(app(offline, "web").error, undefined, app(offline, "web").error);
      assert.deepEqual(
        toYaml(app(offline, "web").objects.filter((o) => o.kind !== "Secret")),
        toYaml(app(first, "web").objects.filter((o) => o.kind !== "Secret")),
      );
      assert.equal(server.requests.length, before, "offline render made no request");
    });

    await t.step("a chart imported again under the same name and version rebuilds the apps that use it", async () => {
      const fresh = {
        ...tempConfig(join(work, "fresh"), path, { SOPS_AGE_KEY_FILE: keyFile }),
        repoRoot: repo,
      };
      const version = (r: Rendering) =>
        app(r, "web").objects.find((o) => o.kind === "Deployment")!.metadata.labels?.["app.kubernetes.io/version"];
      const offline = () => render(fresh, { env: "prod", apps: ["web"], offline: true }, quietUi());
      const before = await offline();
      assert.deepEqual([app(before, "web").cached, version(before)], [true, "1.16.0"]);
      // web 0.1.0 again, repackaged with another appVersion.
      const chart = join(work, "chart-src", "web", "Chart.yaml");
      const original = await Deno.readTextFile(chart);
      await Deno.writeTextFile(chart, original.replace(/^appVersion: .*$/m, 'appVersion: "9.9.9"'));
      const repackaged = join(work, "repackaged");
      await setupRunner.run(cmd("helm", ["package", join(work, "chart-src", "web"), "-d", repackaged]));
      await Deno.writeTextFile(chart, original);
      assert.equal(await chartsImportCommand(fresh, join(repackaged, "web-0.1.0.tgz"), quietUi()), 0);
      const after = await offline();
      assert.deepEqual([app(after, "web").cached, version(after)], [false, "9.9.9"]);
      // And back: the first build serves again.
      assert.equal(await chartsImportCommand(fresh, join(site, "charts", "web-0.1.0.tgz"), quietUi()), 0);
      const back = await offline();
      assert.deepEqual([app(back, "web").cached, version(back)], [true, "1.16.0"]);
    });

    await t.step("a chart pulled from one repository never serves another's of the same name and version", async () => {
      // A second repository with its own web 0.1.0 (another appVersion).
      const otherSite = join(work, "other-site");
      const other = serve(otherSite);
      try {
        const chart = join(work, "chart-src", "web", "Chart.yaml");
        const original = await Deno.readTextFile(chart);
        await Deno.writeTextFile(chart, original.replace(/^appVersion: .*$/m, 'appVersion: "2.0.0"'));
        await setupRunner.run(
          cmd("helm", ["package", join(work, "chart-src", "web"), "-d", join(otherSite, "charts")]),
        );
        await Deno.writeTextFile(chart, original);
        await setupRunner.run(
          cmd("helm", ["repo", "index", join(otherSite, "charts"), "--url", `${other.url}/charts`]),
        );
        const scratch = await Deno.makeTempDir({ dir: work, prefix: "scratch-" });
        // The render's chart cache, which holds web 0.1.0 pulled from the first repository.
        const charts = new ChartCache(join(config.cacheDir, "charts"), runner, {
          scratch: () => Promise.resolve(scratch),
        });
        const first = await charts.get({ repo: `${server.url}/charts`, name: "web", version: "0.1.0" });
        assert.equal(first.via, "pulled");
        const fromOther = await charts.get({ repo: `${other.url}/charts`, name: "web", version: "0.1.0" });
        assert.equal(fromOther.via, "pulled");
        assert.deepEqual(other.requests.filter((p) => p.endsWith(".tgz")), ["/charts/web-0.1.0.tgz"]);
        assert.notEqual(fromOther.digest, first.digest);
        assert.match(await Deno.readTextFile(join(fromOther.dir, "Chart.yaml")), /^appVersion: "?2\.0\.0"?$/m);
        assert.match(await Deno.readTextFile(join(first.dir, "Chart.yaml")), /^appVersion: "?1\.16\.0"?$/m);
        // Each repository's keeps serving its own, from a new cache object too, and offline.
        const offline = new ChartCache(join(config.cacheDir, "charts"), runner, {
          offline: true,
          scratch: () => Promise.resolve(scratch),
        });
        assert.equal(
          (await offline.get({ repo: `${server.url}/charts`, name: "web", version: "0.1.0" })).digest,
          first.digest,
        );
        assert.equal(
          (await offline.get({ repo: `${other.url}/charts`, name: "web", version: "0.1.0" })).digest,
          fromOther.digest,
        );
        // A third repository never pulled from: not served by either.
        await assert.rejects(
          offline.get({ repo: "http://127.0.0.1:9/charts", name: "web", version: "0.1.0" }),
          /chart web 0\.1\.0 from http:\/\/127\.0\.0\.1:9\/charts is not in the chart cache/,
        );
      } finally {
        await other.close();
      }
    });

    await t.step("a manifest imported again under the same URL rebuilds the app that names it", async () => {
      const url = `${server.url}/manifests/extra.yaml`;
      const extra = (colour: string) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  colour: ${colour}\n`;
      await Deno.writeTextFile(join(site, "manifests", "extra.yaml"), extra("blue"));
      const k = join(repo, "platform/plain/kustomization.yaml");
      await Deno.writeTextFile(k, `${await Deno.readTextFile(k)}  - ${url}\n`);
      const colour = async () => {
        const r = app(await render(config, { env: "prod", apps: ["plain"] }, quietUi()), "plain");
        assert.equal(r.error, undefined, r.error);
        return [r.cached, (r.objects.find((o) => o.metadata.name === "extra")?.data as Record<string, string>).colour];
      };
      assert.deepEqual(await colour(), [false, "blue"]);
      assert.deepEqual(await colour(), [true, "blue"]);
      const red = join(work, "extra-red.yaml");
      await Deno.writeTextFile(red, extra("red"));
      assert.equal(await chartsImportCommand(config, red, quietUi(), { url }), 0);
      assert.deepEqual(await colour(), [false, "red"]);
      git(repo, "checkout", "--", "platform/plain");
    });

    await t.step("charts import --url: a manifest referenced by URL, imported for an offline render", async () => {
      const fresh = {
        ...tempConfig(join(work, "fresh-url"), path, { SOPS_AGE_KEY_FILE: join(work, "age.txt") }),
        repoRoot: repo,
      };
      const missing = await render(fresh, { env: "prod", apps: ["remote-dup"], offline: true }, quietUi());
      assert.match(app(missing, "remote-dup").error ?? "", /manifests\/operator\.yaml is not in the cache/);
      const before = server.requests.length;
      const url = `${server.url}/manifests/operator.yaml`;
      const lines: string[] = [];
      assert.equal(
        await chartsImportCommand(fresh, join(site, "manifests", "operator.yaml"), quietUi(lines), { url }),
        0,
      );
      assert.match(
        lines.join("\n"),
        /imported .*operator\.yaml as http:\/\/127\.0\.0\.1:\d+\/manifests\/operator\.yaml/,
      );
      const r = await render(fresh, { env: "prod", apps: ["remote-dup"], offline: true }, quietUi());
      // The imported manifest is what the build used: the same Namespace clash as when fetched.
      assert.equal(app(r, "remote-dup").error, app(first, "remote-dup").error);
      assert.equal(server.requests.length, before, "offline render made no request");
      await assert.rejects(
        chartsImportCommand(fresh, join(site, "manifests", "operator.yaml"), quietUi(), { url: "ftp://x" }),
        /not an http\(s\) URL/,
      );
    });

    await t.step("diff between two commits shows exactly the changed objects, secrets as digests", async () => {
      const base = git(repo, "rev-parse", "HEAD").trim();
      await Deno.writeTextFile(join(repo, "system/web/values.yaml"), "replicaCount: 2\n");
      await writeWebSecret(runner, repo, "second-password-X9k4");
      git(repo, "add", "-A");
      git(repo, "commit", "-qm", "two replicas, new password");
      let out = "";
      const code = await diffCommand(config, { ref: base, env: "prod", format: "text" }, quietUi(), (s) => out += s);
      // Two apps fail to build on both sides: listed as not compared, and the diff says it is incomplete.
      assert.equal(code, DIFF_INCOMPLETE);
      assert.match(out, /^app ns-conflict \(system\/ns-conflict\): not compared: it failed to build before and now$/m);
      assert.match(out, /^app remote-dup \(platform\/remote-dup\): not compared: it failed to build before and now$/m);
      assert.match(out, /; INCOMPLETE: 2 apps not compared \(failed to build\): ns-conflict, remote-dup\n$/);
      assert.match(out, /app web \(system\/web\): 0 added, 2 changed, 0 removed/);
      assert.match(out, /~ Deployment\/web\n/);
      assert.match(out, /-\s+replicas: 1\n\s+\+\s+replicas: 2/);
      assert.match(out, /~ Secret\/web\/web-credentials/);
      assert.match(out, /password: sha256:[0-9a-f]{16}/);
      assert.ok(!out.includes(WEB_PASSWORD) && !out.includes("second-password-X9k4"));
      assert.doesNotMatch(out, /app (plain|unstable)/);
      assert.match(out, /1 app differs \(prod\): 0 objects added, 2 changed, 0 removed/);
      const worktrees = git(repo, "worktree", "list").trim().split("\n");
      assert.equal(worktrees.length, 1, "the temporary worktree is gone");
    });

    await t.step("markdown fits the limit and says what was cut", async () => {
      const a = await render({ ...config }, { env: "prod", apps: ["web"] }, quietUi());
      const b = structuredClone(a) as Rendering;
      (b.apps[0].objects as unknown[]).splice(0, 2);
      const d = diffRenderings(b, a);
      const full = formatMarkdown(d);
      assert.match(full, /<details><summary>web: 2 added/);
      const cut = formatMarkdown(d, 600);
      assert.ok(cut.length <= 600, `${cut.length} characters`);
      assert.match(cut, /Cut to fit 600 characters:\*\* the diff of web is left out/);
    });
  } finally {
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
});
