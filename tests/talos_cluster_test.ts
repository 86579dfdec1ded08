/**
 * Cluster-facing Talos operations against a fake talosctl (and kubectl) that records its calls and
 * answers like talosctl v1.14: maintenance detection, AlreadyExists, rolling upgrades.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCleanups } from "../lib/cleanup.ts";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { HomelabError, InputError } from "../lib/errors.ts";
import {
  apply,
  bootstrap,
  Cluster,
  kubeconfig,
  status,
  upgrade,
  UpgradeError,
  upgradeKubernetes,
} from "../lib/talos/cluster.ts";
import { checkTalconfig, parseEnv } from "../lib/talos/talconfig.ts";
import { consoleUi } from "../lib/ui.ts";
import { eventually, patience, REPO, SYSTEM_PATH, withTempDir } from "./helpers.ts";
import { CLUSTER, IPS } from "./site_values.ts";
import { PATHS } from "../lib/repo.ts";

const FAKES = join(REPO, "tests", "fakes");
const INSTALLER =
  "factory.talos.dev/metal-installer-secureboot/9c4964a2abdf6ef1fd114d60d37dd8288a37731d839860169e456ec7b9ff590e:v1.14.0";

/** A node's address (from site.yaml) as a regular expression. */
const at = (host: keyof typeof IPS) => IPS[host].replaceAll(".", "\\.");

type Mode = "maintenance" | "installed" | "down" | "foreign";

async function setUp(
  dir: string,
  nodes: Record<keyof typeof IPS, { mode: Mode; version?: string; upgrade?: string }>,
  dryRun = false,
) {
  const fake = join(dir, "fake");
  const root = join(dir, "repo");
  for (const [host, ip] of Object.entries(IPS)) {
    const n = nodes[host as keyof typeof IPS];
    await Deno.mkdir(join(fake, "nodes", ip), { recursive: true });
    await Deno.mkdir(join(fake, "hosts"), { recursive: true });
    await Deno.writeTextFile(join(fake, "hosts", host), ip);
    await Deno.writeTextFile(join(fake, "nodes", ip, "mode"), n.mode);
    await Deno.writeTextFile(join(fake, "nodes", ip, "version"), n.version ?? "v1.13.9");
    if (n.upgrade) await Deno.writeTextFile(join(fake, "nodes", ip, "upgrade"), n.upgrade);
    await Deno.mkdir(join(root, PATHS.talosOut), { recursive: true });
    await Deno.writeTextFile(join(root, PATHS.talosOut, `${CLUSTER}-${host}.yaml`), "# config\n");
  }
  await Deno.writeTextFile(join(fake, "calls.log"), "");
  const text = await Deno.readTextFile(join(REPO, PATHS.talconfig));
  const env = parseEnv(await Deno.readTextFile(join(REPO, PATHS.talenv)), PATHS.talenv);
  const { config, problems } = checkTalconfig(text, env);
  assert.deepEqual(problems, []);
  const printed: string[] = [];
  const envVars = { PATH: `${FAKES}:${SYSTEM_PATH}`, FAKE_TALOS: fake };
  const ctx = {
    root,
    config: loadConfig({ HOME: join(dir, "home"), ...envVars }),
    runner: new Runner({ env: envVars, dryRun, print: (l: string) => printed.push(l) }),
    ui: consoleUi({ write: () => {} }),
  };
  const cluster = new Cluster(ctx, config, { pollMs: 20, deadlineMs: patience(10_000) });
  const calls = async () => (await Deno.readTextFile(join(fake, "calls.log"))).trim().split("\n").filter(Boolean);
  const mode = (host: keyof typeof IPS) =>
    Deno.readTextFile(join(fake, "nodes", IPS[host], "mode")).then((m) => m.trim());
  const version = (host: keyof typeof IPS) =>
    Deno.readTextFile(join(fake, "nodes", IPS[host], "version")).then((v) => v.trim());
  return { root, fake, cluster, calls, mode, version, printed };
}

Deno.test("apply: --insecure for a node in maintenance mode, credentials and mode auto for an installed one, unreachable skipped", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "maintenance" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "down" },
    });
    const results = await apply(t.cluster);
    assert.deepEqual(results.map((r) => [r.node, r.state, r.action]), [
      ["node-1", "maintenance", "applied"],
      ["node-2", "installed", "applied"],
      ["node-3", "unreachable", "skipped"],
    ]);
    assert.match(results[2].detail, /connection refused/);
    const applies = (await t.calls()).filter((c) => c.includes("apply-config"));
    assert.equal(applies.length, 2);
    assert.equal(
      applies[0],
      `--nodes ${IPS["node-1"]} --endpoints ${
        IPS["node-1"]
      } apply-config --file ${t.root}/talos/clusterconfig/${CLUSTER}-node-1.yaml --insecure`,
    );
    assert.equal(
      applies[1],
      `--talosconfig ${t.root}/talos/clusterconfig/talosconfig --context ${CLUSTER} --nodes ${
        IPS["node-2"]
      } --endpoints ${
        IPS["node-2"]
      } apply-config --file ${t.root}/talos/clusterconfig/${CLUSTER}-node-2.yaml --mode auto`,
    );
    assert.equal(await t.mode("node-1"), "installed");
  });
});

Deno.test("apply --dry-run prints the exact commands and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "maintenance" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    }, true);
    const results = await apply(t.cluster, { node: "node-1" });
    assert.deepEqual(results.map((r) => r.action), ["would apply"]);
    assert.deepEqual(t.printed, [
      `talosctl --nodes ${IPS["node-1"]} --endpoints ${
        IPS["node-1"]
      } apply-config --file ${t.root}/talos/clusterconfig/${CLUSTER}-node-1.yaml --insecure`,
    ]);
    assert.ok((await t.calls()).every((c) => c.includes("get machinestatus")), "only read-only calls ran");
    assert.equal(await t.mode("node-1"), "maintenance");
  });
});

Deno.test("apply refuses an installed node that belongs to another cluster, a missing config, an unknown node", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "foreign" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    const err = await apply(t.cluster, { node: "node-1" }).then(() => undefined, (e) => e);
    assert.ok(err instanceof HomelabError);
    assert.match(
      err.message,
      new RegExp(`node-1 \\(${at("node-1")}\\) is installed but does not accept .*talosconfig: .*unknown authority`),
    );
    assert.match(err.hint ?? "", /another cluster/);
    assert.ok(!(await t.calls()).some((c) => c.includes("apply-config")));

    await assert.rejects(apply(t.cluster, { node: "node-9" }), /no node 'node-9'.*/);
    await Deno.remove(join(t.root, PATHS.talosOut, `${CLUSTER}-node-2.yaml`));
    await assert.rejects(apply(t.cluster), (e) => e instanceof InputError && /talos genconfig/.test(e.hint ?? ""));
  });
});

Deno.test("bootstrap: transient errors are retried, then AlreadyExists counts as done; only the first control plane", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    await Deno.writeTextFile(join(t.fake, "bootstrap"), "2");
    assert.equal(await bootstrap(t.cluster), "bootstrapped");
    const calls = (await t.calls()).filter((c) => c.includes("bootstrap"));
    assert.equal(calls.length, 3);
    assert.ok(calls.every((c) => c.includes(`--nodes ${IPS["node-1"]} `)));
    assert.equal(await bootstrap(t.cluster), "already");
  });
});

Deno.test("bootstrap gives up at its deadline, naming the last error", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    await Deno.writeTextFile(join(t.fake, "bootstrap"), "100000");
    const cluster = new Cluster(t.cluster.ctx, t.cluster.config, { pollMs: 20, deadlineMs: 300 });
    const err = await bootstrap(cluster).then(() => undefined, (e) => e);
    assert.ok(err instanceof HomelabError);
    assert.match(err.message, /etcd was not bootstrapped on node-1: .*time is not in sync yet/);
  });
});

Deno.test("kubeconfig lands in the repository-local path, 0600", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    const path = await kubeconfig(t.cluster);
    assert.equal(path, join(t.root, ".kube", "config"));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.match((await t.calls()).at(-1)!, new RegExp(`kubeconfig ${path} --force --merge=false$`));
  });
});

Deno.test("a rolling upgrade stops when the second node never comes back; the third is untouched", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed", upgrade: "never-back" },
      "node-3": { mode: "installed" },
    });
    const err = await upgrade(t.cluster, INSTALLER, { timing: { pollMs: 20, deadlineMs: 300 } }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof UpgradeError, String(err));
    assert.match(err.message, new RegExp(`^node-2 \\(${at("node-2")}\\) did not come back healthy`));
    assert.match(err.hint ?? "", /upgraded: node-1; not started: node-3/);
    assert.equal(await t.version("node-1"), "v1.14.0");
    assert.equal(await t.version("node-3"), "v1.13.9");
    const upgrades = (await t.calls()).filter((c) => / upgrade --image /.test(c));
    assert.equal(upgrades.length, 2);
    assert.ok(upgrades.every((c) => c.includes(`--image ${INSTALLER}`)));
    assert.ok(!(await t.calls()).some((c) => c.includes(IPS["node-3"]) && c.includes("upgrade")));
  });
});

Deno.test("a rolling upgrade stops when etcd is unhealthy after a node's upgrade; the next node is never touched", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed", upgrade: "etcd-unhealthy" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    const err = await upgrade(t.cluster, INSTALLER, { timing: { pollMs: 20, deadlineMs: 300 } }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof UpgradeError, `the upgrade went on past node-1's unhealthy etcd: ${JSON.stringify(err)}`);
    assert.match(err.message, new RegExp(`^node-1 \\(${at("node-1")}\\) did not come back healthy`));
    assert.match(err.message, /last seen: version v1\.14\.0, etcd not healthy, node Ready/);
    assert.match(err.hint ?? "", /upgraded: none; not started: node-2, node-3/);
    // node-1 is on the new version and answered Ready: only etcd held the upgrade back.
    assert.equal(await t.version("node-1"), "v1.14.0");
    const calls = await t.calls();
    assert.ok(calls.some((c) => c.includes(`--nodes ${IPS["node-1"]} `) && c.endsWith("service etcd")));
    for (const host of ["node-2", "node-3"] as const) {
      const touched = calls.filter((c) => c.includes(IPS[host]) || c.includes(` node ${host} `));
      assert.deepEqual(touched, [], `${host} was touched after node-1's etcd turned unhealthy`);
      assert.equal(await t.version(host), "v1.13.9");
    }
  });
});

Deno.test("a rolling upgrade waits for each node; re-running skips nodes already on the version", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed", version: "v1.14.0" },
      "node-3": { mode: "installed" },
    });
    const first = await upgrade(t.cluster, INSTALLER);
    assert.deepEqual(first.map((r) => [r.node, r.action]), [["node-1", "upgraded"], ["node-2", "current"], [
      "node-3",
      "upgraded",
    ]]);
    const log = await t.calls();
    const i1 = log.findIndex((c) => c.includes(IPS["node-1"]) && c.includes(" upgrade "));
    const ready1 = log.findIndex((c, i) => i > i1 && c.startsWith("kubectl") && c.includes("node-1"));
    const i3 = log.findIndex((c) => c.includes(IPS["node-3"]) && c.includes(" upgrade "));
    assert.ok(i1 < ready1 && ready1 < i3, "node-3 started before node-1 was seen Ready");
    const again = await upgrade(t.cluster, INSTALLER);
    assert.ok(again.every((r) => r.action === "current"));
  });
});

Deno.test("upgrade-k8s runs on the first control plane with the pinned version", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    await upgradeKubernetes(t.cluster, { preview: true });
    assert.match(
      (await t.calls()).at(-1)!,
      new RegExp(`--nodes ${IPS["node-1"]} .*upgrade-k8s --to 1\\.37\\.2 --dry-run$`),
    );
  });
});

Deno.test("status: per node state, version against the pin, Secure Boot and encryption", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed", version: "v1.14.0" },
      "node-2": { mode: "maintenance" },
      "node-3": { mode: "down" },
    });
    await Deno.writeTextFile(join(t.fake, "nodes", IPS["node-2"], "secureboot"), "false");
    const rows = await status(t.cluster);
    assert.deepEqual(
      rows.map((r) => [r.node, r.state, r.talos, r.secureBoot, r.encryption.STATE, r.encryption.EPHEMERAL]),
      [
        ["node-1", "installed", "v1.14.0", true, "luks2", "luks2"],
        ["node-2", "maintenance", "v1.13.9", false, undefined, undefined],
        ["node-3", "unreachable", undefined, undefined, undefined, undefined],
      ],
    );
    assert.ok((await t.calls()).some((c) => c.includes(`${IPS["node-2"]} get securitystate -o json --insecure`)));
  });
});

Deno.test("upgrade refuses a node in maintenance mode and says to apply it first", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "maintenance" },
      "node-2": { mode: "installed" },
      "node-3": { mode: "installed" },
    });
    const err = await upgrade(t.cluster, INSTALLER).then(() => undefined, (e) => e);
    assert.ok(err instanceof UpgradeError);
    assert.match(
      err.message,
      new RegExp(
        `node-1 \\(${at("node-1")}\\) is in maintenance mode: install it with \`deno task talos apply\` first`,
      ),
    );
    assert.ok(!(await t.calls()).some((c) => / upgrade --image /.test(c)));
  });
});

Deno.test("talos upgrade says what it waits for and the last state seen while a node is slow", async () => {
  await withTempDir(async (dir) => {
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed", upgrade: "never-back" },
      "node-3": { mode: "installed" },
    });
    const said: string[] = [];
    const cluster = new Cluster({ ...t.cluster.ctx, ui: consoleUi({ write: (l) => said.push(l) }) }, t.cluster.config);
    // The upgrade ends at its deadline (node-2 never comes back); by then it has said what it waits for.
    const running = upgrade(cluster, INSTALLER, {
      timing: { pollMs: 20, deadlineMs: patience(2_000), reportEvery: 0.02 },
    })
      .catch(() => {});
    await eventually(
      () => /still waiting for node-2 .*; last seen: version/.test(said.join("")),
      "the last state seen",
    );
    await running;
    const text = said.join("");
    assert.match(text, /\[1\/3\] upgrading node-1 from v1\.13\.9 to v1\.14\.0 \(talosctl upgrade --wait: /);
    assert.match(text, /waiting for node-2 to come back on v1\.14\.0, etcd healthy and Ready/);
    assert.match(text, /still waiting for node-2 .*; last seen: version unknown, etcd not healthy, node not Ready\)/);
  });
});

Deno.test("an interrupted talos upgrade says which nodes are done, under way and not started", async () => {
  await withTempDir(async (dir) => {
    // node-2's `talosctl upgrade` is still running when the task is interrupted: the exit path
    // stops it first, and the report must still come.
    const t = await setUp(dir, {
      "node-1": { mode: "installed" },
      "node-2": { mode: "installed", upgrade: "hang" },
      "node-3": { mode: "installed" },
    });
    const said: string[] = [];
    const cluster = new Cluster({ ...t.cluster.ctx, ui: consoleUi({ write: (l) => said.push(l) }) }, t.cluster.config);
    const running = upgrade(cluster, INSTALLER, { timing: { pollMs: 20, deadlineMs: patience(3_000) } }).catch((e) =>
      e
    );
    await eventually(
      async () => (await t.calls()).some((c) => c.includes(IPS["node-2"]) && / upgrade --image /.test(c)),
      "node-2's upgrade",
    );
    // What the exit path runs on Ctrl-C or a hangup.
    await runCleanups();
    assert.match(
      said.join(""),
      /talos upgrade interrupted\. Done: node-1; under way: node-2; not started: node-3\. .*talos status/,
    );
    await running;
  });
});
