// deno-lint-ignore-file no-console -- tests print freely; library code speaks through the Ui
/**
 * `deno task check` end to end on a small fixture repository (tests/fixtures/check-repo) through
 * the render pipeline, with the real kustomize, helm, jsonnet, talhelper, go and psa: a chart
 * and the pinned run-time CRDs served on 127.0.0.1, then the same check offline.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { parse as parseYaml } from "yaml";
import { cmd, Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { findOnPath } from "../lib/path.ts";
import { sha256 } from "../lib/digest.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { denoDir, REPO } from "./helpers.ts";
import { copyFixture, git, renderToolsPath, serve } from "./render_helpers.ts";

/** The cert chart: a Secret with a CA generated on every render. */
async function makeCertChart(runner: Runner, work: string, site: string, url: string): Promise<void> {
  const src = join(work, "chart-src");
  await Deno.mkdir(src, { recursive: true });
  await runner.run(cmd("helm", ["create", "cert"], { cwd: src }));
  for await (const e of Deno.readDir(join(src, "cert", "templates"))) {
    await Deno.remove(join(src, "cert", "templates", e.name), { recursive: true });
  }
  await Deno.writeTextFile(
    join(src, "cert", "templates", "secret.yaml"),
    '{{- $ca := genCA "cert-ca" 365 }}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cert-tls\n' +
      "type: kubernetes.io/tls\ndata:\n  tls.crt: {{ $ca.Cert | b64enc }}\n  tls.key: {{ $ca.Key | b64enc }}\n",
  );
  await Deno.mkdir(join(site, "charts"), { recursive: true });
  await runner.run(cmd("helm", ["package", join(src, "cert"), "-d", join(site, "charts")]));
  await runner.run(cmd("helm", ["repo", "index", join(site, "charts"), "--url", `${url}/charts`]));
}

/** The run-time CRDs (the fixtures' own small CRDs) served as files, and their pinned list. */
async function serveCrds(site: string, url: string, repo: string): Promise<void> {
  const crds = parseYaml(await Deno.readTextFile(join(REPO, "tests", "fixtures", "check", "crds.yaml"))) as {
    spec: { group: string };
  }[];
  await Deno.mkdir(join(site, "crds"), { recursive: true });
  const files: { url: string; sha256: string }[] = [];
  for (const group of ["gateway.networking.k8s.io", "cilium.io", "argoproj.io"]) {
    const text = crds.filter((c) => c.spec.group === group).map((c) => `---\n${stringify(c)}`).join("");
    await Deno.writeTextFile(join(site, "crds", `${group}.yaml`), text);
    files.push({ url: `${url}/crds/${group}.yaml`, sha256: await sha256(text) });
  }
  await Deno.mkdir(join(repo, "schemas"), { recursive: true });
  await Deno.writeTextFile(
    join(repo, "schemas", "runtime-crds.yaml"),
    stringify({
      sources: [{
        name: "fixture",
        component: "system/pool",
        chart: "none",
        version: "1.0.0",
        digestsFor: "1.0.0",
        files,
      }],
    }),
  );
}

Deno.test("deno task check: render, then every check, on a fixture repository; then offline", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "homelab-test-" });
  const site = join(work, "site");
  const server = serve(site);
  try {
    const real = loadConfig();
    const toolbox = new Toolbox(real);
    const dirs = [
      dirname(await toolbox.resolve("psa")),
      dirname(await toolbox.resolve("talhelper")),
      // The schemas come from the pinned kube-apiserver's /openapi/v3; --server runs it too.
      dirname(await toolbox.resolve("kube-apiserver")),
      dirname(await toolbox.resolve("etcd")),
      dirname((await findOnPath("go", real.env.PATH ?? ""))!),
    ];
    const path = [...dirs, await renderToolsPath()].join(":");
    const setup = new Runner({ env: { PATH: path, HOME: work } });
    await makeCertChart(setup, work, site, server.url);

    const repo = join(work, "repo");
    await copyFixture(join(REPO, "tests", "fixtures", "check-repo"), repo, server.url);
    await Deno.mkdir(join(repo, "talos"), { recursive: true });
    await copyFixture(join(REPO, "talos"), join(repo, "talos"), server.url);
    await Deno.remove(join(repo, "talos", "talsecret.sops.yaml")).catch(() => {});
    await serveCrds(site, server.url, repo);
    // The tasks check the checkout they live in: put a copy of the tooling into the fixture.
    for (const d of ["lib", "tasks", "tools"]) await copyFixture(join(REPO, d), join(repo, d), "{{REPO}}");
    for (const f of ["deno.json", "deno.lock"]) await Deno.copyFile(join(REPO, f), join(repo, f));
    git(repo, "init", "-q");
    git(repo, "add", "-A");
    git(repo, "commit", "-qm", "fixture");

    const tmp = join(work, "tmp");
    await Deno.mkdir(tmp);
    const env = {
      HOME: join(work, "home"),
      XDG_CACHE_HOME: join(work, "cache"),
      PATH: path,
      TMPDIR: tmp,
      // The Kubernetes module comes from the machine's module cache only: no network for Go.
      GOMODCACHE: (await setup.output(cmd("go", ["env", "GOMODCACHE"], { env: { HOME: real.home } }))).trim(),
      GOPROXY: "off",
    };
    // `deno task check` of the copy: the task's command line, run in the fixture repository.
    const check = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "tasks/check.ts", ...args],
        env: { DENO_DIR: denoDir(), NO_COLOR: "1", ...env },
        clearEnv: true,
        cwd: repo,
      }).output();
      const text = new TextDecoder();
      return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
    };

    await t.step("each failure class is an error with the message the user sees; exit 1", async () => {
      const r = await check();
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.split("\n");
      const has = (re: RegExp) => assert.ok(lines.some((l) => re.test(l)), `no line matching ${re} in\n${r.stdout}`);
      has(/^pool\s+ok$/);
      has(/^web\s+2 errors$/);
      has(
        /^ {2}error {3}pod-security +Deployment\/web\/web: spec\.template: violates PodSecurity "restricted:latest": privileged \(container "web" must not set securityContext\.privileged=true\)/,
      );
      has(
        /^ {2}error {3}address +Service\/web\/web: metadata\.annotations\[lbipam\.cilium\.io\/ips\] asks for 192\.168\.9\.9, outside the prod LoadBalancer pool \(10\.40\.0\.0\/24\)/,
      );
      has(
        /^ {2}error {3}stability +Secret\/cert\/cert-tls: renders differently from identical inputs at \/data\/tls\.crt, \/data\/tls\.key/,
      );
      has(
        /^ {2}error {3}reference +Gateway\/gateway\/shared: gatewayClassName 'cilium' names a GatewayClass nothing in this render creates/,
      );
      // The static stack checks are part of check: the chart's repository is plain http.
      has(
        /^ {2}error {3}stacks +system\/cert\/kustomization\.yaml:\d+: helmCharts\[0\] \(cert\) has no https:\/\/ or oci:\/\/ repo/,
      );
      has(/^check \(prod\): 4 apps, 5 errors, 0 warnings$/);
    });

    await t.step("--format json says the same to scripts", async () => {
      const r = await check("--format", "json");
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as {
        ok: boolean;
        apps: { name: string; errors: number; findings: { check: string }[] }[];
      };
      assert.equal(report.ok, false);
      const errors = Object.fromEntries(report.apps.map((a) => [a.name, a.findings.map((f) => f.check).sort()]));
      assert.deepEqual(errors, {
        pool: [],
        web: ["address", "pod-security"],
        cert: ["stability", "stacks"],
        gateway: ["reference"],
        root: [],
        cluster: [],
      });
    });

    await t.step("--server: the local API server adds only what the offline checks did not see", async () => {
      const r = await check("--offline", "--server", "--format", "json");
      assert.equal(r.code, 1, r.stderr);
      const report = JSON.parse(r.stdout) as {
        apps: { name: string; findings: { check: string; severity: string; message: string }[] }[];
      };
      const web = report.apps.find((a) => a.name === "web")!.findings;
      // The privileged Deployment: the offline Pod Security error stands, the server's warning
      // about the same problem is not a second line.
      assert.equal(web.filter((f) => f.check === "pod-security").length, 1, JSON.stringify(web));
      // What only the server knows: a privileged container cannot also forbid privilege escalation.
      const refused = web.filter((f) => f.check === "server" && f.severity === "error");
      assert.equal(refused.length, 1, JSON.stringify(web));
      assert.match(refused[0].message, /cannot set `?allowPrivilegeEscalation`? to false and `?privileged`? to true/);
      const others = report.apps.filter((a) => a.name !== "web").flatMap((a) => a.findings);
      assert.deepEqual(others.filter((f) => f.check === "server"), [], JSON.stringify(others));
      assert.match(r.stderr, /check --server: the local API server judges every object: done/);
    });

    await t.step("--offline: charts, CRDs and schemas from the caches; --app reports one app", async () => {
      server.close();
      const r = await check("--offline", "--app", "gateway");
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /^gateway\s+1 error$/m);
      assert.doesNotMatch(r.stdout, /^web /m);
      assert.doesNotMatch(r.stdout, /runtime-crds|not in the cache/);
      const timing = /checked in ([\d.]+)s/.exec(r.stderr)?.[1];
      console.log(`warm offline check of the fixture: ${timing}s`);
    });

    await t.step("--app while another app fails to build: the result says it is incomplete, exit 1", async () => {
      const file = join(repo, "system", "web", "kustomization.yaml");
      const text = await Deno.readTextFile(file);
      await Deno.writeTextFile(file, `${text}  - missing.yaml\n`);
      try {
        const r = await check("--offline", "--app", "pool");
        assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^pool\s+1 error$/m);
        assert.match(
          r.stdout,
          /^ {2}error {3}incomplete +the result is incomplete: web failed to build, .*`deno task check --app web` shows why/m,
        );
      } finally {
        await Deno.writeTextFile(file, text);
      }
    });

    await t.step("nothing is left in the temporary directory", () => {
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name), []);
    });
  } finally {
    await server.close().catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
});
