import assert from "node:assert/strict";
import { join } from "node:path";
import { Runner } from "../cmd.ts";
import { sha256 } from "../digest.ts";
import { ChartCache } from "../render/charts.ts";
import {
  loadRuntimeCrds,
  readRuntimeCrdSources,
  refreshRuntimeCrdDigests,
  RUNTIME_CRDS_FILE,
  runtimeCrdDrift,
} from "./runtimecrds.ts";

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pools.example.com
spec:
  group: example.com
  scope: Cluster
  names: { kind: Pool, plural: pools }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: { type: object }
`;

Deno.test("run-time CRDs: fetched once by pinned sha256, then offline; a wrong pin and a chart drift are findings", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    requests.push(new URL(req.url).pathname);
    return new Response(CRD);
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const repo = join(dir, "repo");
    await Deno.mkdir(join(repo, "schemas"), { recursive: true });
    await Deno.mkdir(join(repo, "system", "op"), { recursive: true });
    await Deno.writeTextFile(
      join(repo, "system", "op", "kustomization.yaml"),
      "helmCharts:\n  - name: op\n    version: 2.0.0\n",
    );
    const list = (digest: string) =>
      Deno.writeTextFile(
        join(repo, RUNTIME_CRDS_FILE),
        `sources:\n  - name: op\n    component: system/op\n    chart: op\n    version: 1.0.0\n    digestsFor: 1.0.0\n` +
          `    files:\n` +
          `      - url: ${url}/v{version}/pools.yaml\n        sha256: "${digest}"\n`,
      );
    await list(await sha256(CRD));
    const sources = await readRuntimeCrdSources(repo);
    const cache = (offline: boolean) =>
      new ChartCache(join(dir, "cache", "charts"), new Runner({ env: {} }), {
        offline,
        scratch: () => Promise.resolve(dir),
      });

    const first = await loadRuntimeCrds(sources, cache(false), join(dir, "cache"));
    assert.deepEqual(first.findings, []);
    assert.deepEqual(first.crds.map((c) => [c.group, c.version, c.kind, c.namespaced]), [[
      "example.com",
      "v1",
      "Pool",
      false,
    ]]);
    assert.equal(requests.length, 1);
    // `{version}` in a URL is the source's version.
    assert.deepEqual(requests, ["/v1.0.0/pools.yaml"]);

    // Offline, from the cache: no request.
    const again = await loadRuntimeCrds(sources, cache(true), join(dir, "cache"));
    assert.equal(again.crds.length, 1);
    assert.equal(requests.length, 1);

    // The chart moved to 2.0.0, the pins did not.
    const drift = await runtimeCrdDrift(repo, sources);
    assert.equal(drift.length, 1);
    assert.match(
      drift[0].message,
      /pins 1\.0\.0 but system\/op installs chart op 2\.0\.0: .*run `deno task charts crds`/,
    );

    // A pin that does not match what the URL serves.
    await list("0".repeat(64));
    const wrong = await loadRuntimeCrds(await readRuntimeCrdSources(repo), cache(false), join(dir, "cache"));
    assert.deepEqual(wrong.crds, []);
    assert.equal(wrong.findings.length, 1);
    assert.match(wrong.findings[0].message, /not the pinned 0{64}/);

    // A list without sha256 is refused, naming the file.
    await Deno.writeTextFile(
      join(repo, RUNTIME_CRDS_FILE),
      `sources:\n  - {name: op, component: c, chart: c, version: "1", digestsFor: "1", files: [{url: "${url}/x"}]}\n`,
    );
    await assert.rejects(
      readRuntimeCrdSources(repo),
      /schemas\/runtime-crds\.yaml: sources\[0\]\.files\[0\] .* has no sha256/,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run-time CRDs: the same inputs give the same message, whichever fetch fails first", async () => {
  const files = ["a", "b", "c"].map((n) => ({ url: `http://127.0.0.1:9/${n}.yaml`, sha256: "0".repeat(64) }));
  const sources = [{ name: "op", component: "system/op", chart: "op", version: "1.0.0", digestsFor: "1.0.0", files }];
  // The later files fail at once, the first only after them: completion order is c, b, a.
  const cache = {
    remote: async (url: string) => {
      if (!url.endsWith("/c.yaml")) await new Promise((r) => setTimeout(r, 0));
      if (url.endsWith("/a.yaml")) await new Promise((r) => setTimeout(r, 0));
      throw new Error(`could not fetch ${url}`);
    },
  } as unknown as ChartCache;
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  try {
    const { findings } = await loadRuntimeCrds(sources, cache, dir);
    assert.equal(findings.length, 1);
    assert.match(
      findings[0].message,
      /3 of 3 pinned CRD files of op 1\.0\.0 .*\(first: http:\/\/127\.0\.0\.1:9\/a\.yaml:/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run-time CRDs: a version moved without its sha256s is stale until `charts crds` writes the new ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "homelab-test-" });
  // Each version serves another file (another schema), as a new release does.
  const served = (version: string) => CRD.replace("name: v1\n", `name: v1\n      # release ${version}\n`);
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const m = /^\/v([\d.]+)\/pools\.yaml$/.exec(path);
    return m ? new Response(served(m[1])) : new Response("not found", { status: 404 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    const repo = join(dir, "repo");
    await Deno.mkdir(join(repo, "schemas"), { recursive: true });
    const old = await sha256(served("1.0.0"));
    // As Renovate leaves it: the version moved (one line under its annotation), the rest did not.
    const text = `# header stays\nsources:\n  - name: op\n    component: system/op\n    chart: op\n` +
      `    # renovate: datasource=helm depName=op\n    version: 2.0.0\n    digestsFor: 1.0.0\n    files:\n` +
      `      - url: ${url}/v{version}/pools.yaml\n        sha256: "${old}" # the 1.0.0 file\n`;
    await Deno.writeTextFile(join(repo, RUNTIME_CRDS_FILE), text);
    const cache = new ChartCache(join(dir, "cache", "charts"), new Runner({ env: {} }), {
      offline: false,
      scratch: () => Promise.resolve(dir),
    });

    // Stale: one finding naming the command, and nothing fetched (offline works the same).
    const stale = await loadRuntimeCrds(await readRuntimeCrdSources(repo), cache, join(dir, "cache"));
    assert.deepEqual(stale.crds, []);
    assert.equal(stale.findings.length, 1);
    assert.match(
      stale.findings[0].message,
      /^schemas\/runtime-crds\.yaml: op is at version 2\.0\.0, but its sha256s are those of 1\.0\.0's files .*Run `deno task charts crds`/,
    );
    assert.deepEqual(requests, []);

    // The command writes the 2.0.0 file's sha256 and digestsFor, and nothing else.
    const done = await refreshRuntimeCrdDigests(repo, cache);
    assert.deepEqual(done, [{ name: "op", version: "2.0.0", files: 1, changed: 1, from: "1.0.0" }]);
    assert.deepEqual(requests, ["/v2.0.0/pools.yaml"]);
    const now = await sha256(served("2.0.0"));
    assert.equal(
      await Deno.readTextFile(join(repo, RUNTIME_CRDS_FILE)),
      text.replace("digestsFor: 1.0.0", "digestsFor: 2.0.0").replace(old, now),
    );
    const fresh = await loadRuntimeCrds(await readRuntimeCrdSources(repo), cache, join(dir, "cache"));
    assert.deepEqual(fresh.findings, []);
    assert.equal(fresh.crds.length, 1);

    // A file that cannot be had: the command fails and the file stays as it was.
    const before = await Deno.readTextFile(join(repo, RUNTIME_CRDS_FILE));
    await Deno.writeTextFile(join(repo, RUNTIME_CRDS_FILE), before.replace("pools.yaml", "gone.yaml"));
    await assert.rejects(refreshRuntimeCrdDigests(repo, cache), /could not fetch .*gone\.yaml: HTTP 404/);
    assert.equal(await Deno.readTextFile(join(repo, RUNTIME_CRDS_FILE)), before.replace("pools.yaml", "gone.yaml"));

    // A source without digestsFor is refused, naming the file.
    await Deno.writeTextFile(join(repo, RUNTIME_CRDS_FILE), text.replace(/ {4}digestsFor: .*\n/, ""));
    await assert.rejects(readRuntimeCrdSources(repo), /schemas\/runtime-crds\.yaml: sources\[0\] has no digestsFor/);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
