/**
 * `deno task rehearse` end to end: the real Argo CD (repo-server, application-controller,
 * miniredis), the local control plane (etcd, kube-apiserver, controllers, kwok) and the snapshot's
 * git daemon, on fixture repositories made here (tests/rehearse_fixture.ts): one that converges,
 * and one whose Applications each fail their own way. Two rehearsals in all, a minute or two each.
 * @module
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { clientOf, readKubeconfig } from "../lib/kube/kubeconfig.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { pinnedArgoCdChart, releaseOf } from "../lib/render/argocd.ts";
import { holdUps } from "../lib/kube/applications.ts";
import { jsonReport, type Rehearsal, rehearse, type RehearseOptions, textReport } from "../lib/rehearse/run.ts";
import { toolSpec } from "../lib/tools.ts";
import type { Ui } from "../lib/ui.ts";
import { patience, REPO, withTempDir } from "./helpers.ts";
import { processTree, survivors, toolRunner } from "./kube_helpers.ts";
import { convergingFixture, FAILING, failingFixture, LOCKED_PASSWORD, WEB_PASSWORD } from "./rehearse_fixture.ts";

function quietUi(lines: string[]): Ui {
  return {
    info: (l) => lines.push(l),
    warn: (l) => lines.push(`warning: ${l}`),
    progress: (label, fn) => (lines.push(label), fn()),
  };
}

/**
 * The processes of the rehearsal whose control plane is in `dir`: those this test process started
 * whose command line names that folder (each daemon's guard names its pid file there), and theirs.
 * Other test files running in parallel in this process have processes of their own.
 */
async function processesOf(dir: string): Promise<{ pid: number; name: string }[]> {
  const pids = new Set<number>();
  for (const pid of (await processTree(Deno.pid)).filter((p) => p !== Deno.pid)) {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (cmdline.includes(`${dir}/`)) { for (const p of await processTree(pid)) pids.add(p); }
  }
  const out = [];
  for (const pid of pids) {
    const name = (await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "")).trim();
    if (name) out.push({ pid, name });
  }
  return out;
}

/** Every object of every kind the API server lists (its etcd-backed state), as JSON text. */
async function everything(client: KubeClient): Promise<string> {
  type Resources = { resources?: { name: string; verbs?: string[] }[] };
  const versions = ["/api/v1"];
  const groups = await client.must<{ groups: { preferredVersion: { groupVersion: string } }[] }>("GET", "/apis");
  for (const g of groups.body.groups) versions.push(`/apis/${g.preferredVersion.groupVersion}`);
  const texts: string[] = [];
  for (const v of versions) {
    const list = await client.must<Resources>("GET", v);
    for (const r of list.body.resources ?? []) {
      if (r.name.includes("/") || !r.verbs?.includes("list")) continue;
      const items = await client.request("GET", `${v}/${r.name}`);
      if (items.status < 300) texts.push(JSON.stringify(items.body));
    }
  }
  return texts.join("\n");
}

interface Seen {
  result: Rehearsal;
  /** The rehearsal's processes, seen before it stopped, with their environment. */
  processes: { pid: number; name: string; env: string[] }[];
  /** What the cluster held before it stopped. */
  cluster: { everything: string; secret: Record<string, string>; created: Record<string, string> };
  lines: string[];
}

/** Runs the rehearsal of a fixture, looking at the cluster and the processes before everything stops. */
async function rehearsal(
  config: Parameters<typeof rehearse>[0],
  options: Omit<RehearseOptions, "beforeStop">,
  secretPath?: string,
): Promise<Seen> {
  const lines: string[] = [];
  let processes: Seen["processes"] = [];
  const cluster: Seen["cluster"] = { everything: "", secret: {}, created: {} };
  const result = await rehearse(config, {
    ...options,
    beforeStop: async (_result, kubeconfig) => {
      processes = await Promise.all((await processesOf(dirname(kubeconfig))).map(async (p) => ({
        ...p,
        env: (await Deno.readTextFile(`/proc/${p.pid}/environ`).catch(() => "")).split("\0"),
      })));
      const client = await clientOf((await readKubeconfig(kubeconfig))!);
      try {
        cluster.everything = await everything(client);
        if (secretPath) {
          const s = await client.must<{ data?: Record<string, string> }>("GET", secretPath);
          for (const [k, v] of Object.entries(s.body.data ?? {})) cluster.secret[k] = atob(v);
        }
        const apps = await client.must<{ items: { metadata: { name: string; creationTimestamp: string } }[] }>(
          "GET",
          "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
        );
        for (const a of apps.body.items) cluster.created[a.metadata.name] = a.metadata.creationTimestamp;
      } finally {
        client.close();
      }
    },
  }, quietUi(lines));
  return { result, processes, cluster, lines };
}

/** The processes a rehearsal runs, by the names the kernel knows them by. */
function assertProcesses(processes: { name: string }[]) {
  const names = new Set(processes.map((p) => p.name));
  for (const n of ["etcd", "kube-apiserver", "kwok", "git", "argocd", "miniredis"]) {
    assert.ok(names.has(n), `no ${n} among the rehearsal's processes: ${[...names].join(", ")}`);
  }
}

Deno.test("rehearse: a fixture repository converges, wave by wave, with digests for its secrets", async () => {
  await withTempDir(async (dir) => {
    const fx = await convergingFixture(dir);
    const seen = await rehearsal(
      fx.config,
      { env: "prod", timeoutMs: patience(180_000), reconciliation: 5 },
      "/api/v1/namespaces/web/secrets/web-credentials",
    );
    const { result } = seen;
    const text = textReport(result);

    // Every Application converged and stayed so after the hard refresh: exit code 0.
    assert.equal(result.ok, true, text);
    assert.equal(result.converged, true, text);
    assert.equal(result.stayed, true, text);
    assert.ok(seen.lines.includes("hard refresh of every Application"), seen.lines.join("\n"));
    assert.deepEqual(result.apps.map((a) => a.name), ["root", "argocd", "echo", "web"], text);
    for (const a of result.apps) {
      assert.deepEqual([a.name, a.sync, a.health], [a.name, "Synced", "Healthy"], text);
      assert.equal(typeof a.convergedMs, "number", `${a.name}: ${text}`);
    }
    // The waves of components.json, in order, each done; the root app made their Applications in that order.
    assert.deepEqual(result.waves.map((w) => [w.wave, w.apps]), [[-10, ["argocd"]], [-5, ["echo"]], [0, ["web"]]]);
    for (const w of result.waves) assert.equal(typeof w.doneMs, "number", text);
    const created = ["argocd", "echo", "web"].map((n) => Date.parse(seen.cluster.created[n]));
    assert.deepEqual([...created].sort((a, b) => a - b), created, JSON.stringify(seen.cluster.created));
    assert.match(text, /^waves:\n {3}-10 .* argocd\n {4}-5 .* echo\n {5}0 .* web$/m, text);

    // The report: both Argo CD releases, what differs from the cluster, the outcome.
    const cluster = releaseOf((await pinnedArgoCdChart(REPO))!)!.argocd;
    assert.ok(
      text.startsWith(`rehearse (prod): Argo CD v${toolSpec("argocd")!.version} (the cluster runs v${cluster})\n`),
      text,
    );
    assert.ok(result.changes.some((c) => /^reconciliation every 5s without jitter/.test(c.what)), text);
    // echo's CRD existed before Argo CD started, written as Argo CD's server-side apply writes it:
    // Argo CD's sync of echo changed nothing in it.
    assert.ok(
      result.changes.some((c) => /^1 more CRD\(s\) of the tree created before Argo CD starts/.test(c.what)),
      text,
    );
    assert.deepEqual(result.crdsChanged, [], text);
    // Argo CD's pace: no sleep between the waves of a sync; kube-apiserver's soft memory limit.
    const withEnv = (name: string, v: string) => seen.processes.filter((p) => p.name === name && p.env.includes(v));
    assert.equal(withEnv("argocd", "ARGOCD_SYNC_WAVE_DELAY=0").length, 1, "the application-controller's wave delay");
    assert.equal(withEnv("kube-apiserver", "GOMEMLIMIT=1000MiB").length, 1, "kube-apiserver's memory limit");
    for (const c of result.changes) assert.ok(text.includes(`  differs from the cluster: ${c.what} (${c.why})`), text);
    assert.match(text, /^ok: every Application Synced and Healthy in \S+, and still after a hard refresh$/m);
    const json = JSON.parse(jsonReport(result));
    assert.equal(json.ok, true);
    assert.equal(json.apps.find((a: { name: string }) => a.name === "root").wave, null);
    assert.deepEqual(json.waves.map((w: { wave: number }) => w.wave), [-10, -5, 0]);

    // The Secret holds digests of its values; the plaintext is nowhere in the cluster.
    assert.deepEqual(Object.keys(seen.cluster.secret).sort(), ["password", "username"]);
    for (const v of Object.values(seen.cluster.secret)) assert.match(v, /^sha256:[0-9a-f]{16}$/);
    assert.ok(seen.cluster.everything.includes("web-credentials"), "the listing holds the Secret");
    assert.ok(!seen.cluster.everything.includes(WEB_PASSWORD), "the password is in the cluster");
    assert.ok(!seen.cluster.everything.includes(btoa(WEB_PASSWORD)), "the password is in the cluster (base64)");

    // Nothing of the rehearsal outlives it.
    assertProcesses(seen.processes);
    assert.deepEqual(await survivors(seen.processes.map((p) => p.pid)), [], "a process outlived the rehearsal");
  });
});

Deno.test("rehearse: each Application that cannot converge is named with what Argo CD says of it", async () => {
  // What Argo CD says of each failing Application, line by line (the report indents them by six):
  const says: Record<string, { state?: string; lines: RegExp[] }> = {
    // (a) A wave inversion: the Deployment of wave 0 waits for the claim of wave 1, which Argo CD never applies.
    [FAILING.inverted]: {
      lines: [
        /^wave 0: Deployment inverted\/app: Synced\/Progressing: Waiting for rollout to finish: 0 of 1 updated replicas are available/m,
        /^wave 1: PersistentVolumeClaim inverted\/data: OutOfSync\/Missing$/m,
      ],
    },
    // (b) A perpetual diff: the API server prunes a field the CRD does not know, so every sync leaves it OutOfSync.
    [FAILING.drift]: { state: "OutOfSync/Healthy", lines: [/^wave 0: Widget drift\/gadget: OutOfSync\/Healthy$/m] },
    // (c) A PreSync hook whose Job fails: the sync's failure and the Job's message.
    [FAILING.hook]: {
      lines: [
        /^last sync Failed: one or more synchronization tasks completed unsuccessfully.*\(Job hook\/migrate: Job has reached the specified backoff limit\)/m,
      ],
    },
    // (d) A KSOPS file Argo CD's key cannot open (prod): the build's error.
    [FAILING.locked]: {
      lines: [/^ComparisonError: .*ksops: system\/locked\/db\.sops\.yaml: cannot be decrypted: Argo CD's key/m],
    },
  };
  const shows = (app: string, state: string, lines: string) =>
    (says[app].state === undefined || says[app].state === state) && says[app].lines.every((re) => re.test(lines));

  await withTempDir(async (dir) => {
    const fx = await failingFixture(dir, toolRunner());
    // Nothing here converges but Argo CD's own Application. The rehearsal stops once that one has
    // converged and each of the others shows its failure; the deadline is only a backstop.
    const seen = await rehearsal(fx.config, {
      env: "prod",
      timeoutMs: patience(300_000),
      reconciliation: 5,
      settled: (apps) =>
        apps.some((a) => a.name === "argocd" && a.convergedMs !== undefined) &&
        Object.keys(says).every((name) =>
          apps.some((a) => a.name === name && shows(name, `${a.sync}/${a.health}`, holdUps(a).join("\n")))
        ),
    });
    const { result } = seen;
    const text = textReport(result);
    const block = (app: string) => {
      const m = new RegExp(`^  ${app} +(\\S+) +(.*)\\n((?: {6}.*\\n?)*)`, "m").exec(text);
      assert.ok(m, `no ${app} in the report:\n${text}`);
      return { state: m[1], outcome: m[2], details: m[3] };
    };

    // Exit code 1: not converged, so no hard refresh was tried.
    assert.equal(result.ok, false, text);
    assert.equal(result.converged, false, text);
    assert.equal(result.stayed, undefined, text);
    // The wait ended when every failure was seen, not at the backstop.
    assert.equal(result.settled, true, text);
    assert.match(
      text,
      /^error: not every Application became Synced and Healthy; the wait ended once the states asked for were seen; see above$/m,
    );
    assert.deepEqual(block("argocd").outcome.split(" ")[0], "converged", text);

    // The report shows each one's failure.
    for (const app of Object.keys(says)) {
      const { state, outcome, details } = block(app);
      assert.equal(outcome, "did not converge", text);
      if (says[app].state) assert.equal(state, says[app].state, text);
      for (const line of says[app].lines) assert.match(details.replace(/^ {6}/gm, ""), line, text);
    }
    // The KSOPS file Argo CD's key cannot open is also named up front.
    assert.match(
      text,
      /^ {2}cannot be decrypted in the cluster: locked: system\/locked\/db\.sops\.yaml: Argo CD's key \(the argocd recipient of \.sops\.yaml, age1\w+\) is not among its recipients; run `deno task secrets rotate`/m,
    );
    assert.ok(!seen.cluster.everything.includes(LOCKED_PASSWORD), "the locked password is in the cluster");

    assertProcesses(seen.processes);
    assert.deepEqual(await survivors(seen.processes.map((p) => p.pid)), [], "a process outlived the rehearsal");
  });
});
