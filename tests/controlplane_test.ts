import assert from "node:assert/strict";
import { join } from "node:path";
import type { Runner } from "../lib/cmd.ts";
import { startControlPlane } from "../lib/kube/controlplane.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { NODE_LEASE_SECONDS } from "../lib/kube/controlplane.ts";
import { waitFor } from "../lib/kube/wait.ts";
import {
  alive,
  hold,
  processTree,
  socketsOf,
  survivors,
  toolRunner,
  widgetCrd,
  withControlPlane,
} from "./kube_helpers.ts";
import { fakeTool, patience, withTempDir } from "./helpers.ts";

/** Local addresses of the TCP sockets in LISTEN state that `pids` hold. */
async function listeners(pids: readonly number[]): Promise<string[]> {
  return (await socketsOf(pids)).filter((s) => s.proto.startsWith("tcp") && s.state === "0A").map((s) => s.local);
}

Deno.test("the control plane listens only on 127.0.0.1, runs pods on kwok nodes, and stops without a trace", async (t) => {
  let pids: number[] = [];
  let dir = "";
  const tainted = {
    name: "node-cp",
    labels: { "node-role.kubernetes.io/control-plane": "" },
    taints: [{ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" }],
  };
  await withControlPlane({ controllers: true, nodes: ["node-1", tainted] }, async (cp) => {
    dir = cp.dir;
    pids = (await Promise.all(cp.daemons.map((d) => processTree(d.pid)))).flat();
    assert.deepEqual(cp.daemons.map((d) => d.name), [
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kwok",
    ]);

    await t.step("every listener is on 127.0.0.1", async () => {
      const addrs = await listeners(pids);
      assert.ok(addrs.length >= 3, `expected the daemons' listeners, found ${addrs.join(", ")}`);
      for (const a of addrs) assert.match(a, /^127\.0\.0\.1:\d+$/, `a daemon listens on ${a}`);
    });

    await t.step("the node holds a Lease that kwok renews, so it stays Ready", async () => {
      // Without a renewed Lease the node lifecycle controller marks the node NotReady once its
      // grace period has passed; the renewal itself shows long before that.
      type Lease = { spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string } };
      const path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1";
      // kwok renews every quarter of the lease duration: wait up to two renewals and some slack.
      const deadline = Date.now() + patience(NODE_LEASE_SECONDS * 1000 / 2 + 15_000);
      const seen: string[] = [];
      let lease: Lease | undefined;
      while (seen.length < 2 && Date.now() < deadline) {
        const r = await cp.client.request<Lease>("GET", path);
        lease = r.status === 200 ? r.body : undefined;
        const renewed = lease?.spec?.renewTime;
        if (renewed && !seen.includes(renewed)) seen.push(renewed);
        await new Promise((res) => setTimeout(res, 250));
      }
      assert.ok(lease, "no Lease for node-1 in kube-node-lease");
      assert.equal(lease.spec?.leaseDurationSeconds, NODE_LEASE_SECONDS);
      assert.ok(lease.spec?.holderIdentity, JSON.stringify(lease));
      assert.equal(seen.length, 2, `the Lease was not renewed (renewTime stayed ${seen.join(", ")})`);
      assert.ok(Date.parse(seen[1]) > Date.parse(seen[0]), seen.join(" → "));
      await waitFor(cp.client, { apiVersion: "v1", kind: "Node", metadata: { name: "node-1" } }, {
        timeout: patience(5_000),
      });
    });

    await t.step("a node given with labels and taints has them", async () => {
      const node = await cp.client.get<{ metadata: { labels: Record<string, string> }; spec: { taints?: unknown } }>(
        { apiVersion: "v1", kind: "Node", metadata: { name: "node-cp" } },
      );
      assert.equal(node?.metadata.labels["node-role.kubernetes.io/control-plane"], "");
      assert.equal(node?.metadata.labels["kubernetes.io/hostname"], "node-cp");
      assert.deepEqual(node?.spec.taints, tainted.taints);
    });

    await t.step("keys, kubeconfig and data are private", async () => {
      assert.equal((await Deno.stat(cp.dir)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(cp.kubeconfig)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(cp.dir, "pki", "sa.key"))).mode! & 0o777, 0o600);
    });

    const client = cp.client;
    await t.step("a CRD becomes Established", async () => {
      const crd = widgetCrd();
      const r = await client.apply(crd);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await waitFor(client, crd, { timeout: patience(30_000) });
    });

    await t.step("a Deployment becomes Available and a Job Complete", async () => {
      const labels = { app: "web" };
      const pod = { containers: [{ name: "c", image: "registry.example.org/web:1.0.0" }] };
      const deploy: KubeObject = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "web", namespace: "default" },
        spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: pod } },
      };
      const job: KubeObject = {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "once", namespace: "default" },
        spec: { template: { spec: { ...pod, restartPolicy: "Never" } } },
      };
      for (const o of [deploy, job]) {
        const r = await client.apply(o);
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
      const seen: string[] = [];
      await waitFor(client, deploy, { timeout: patience(60_000), onState: (s) => seen.push(s) });
      assert.ok(seen.length >= 1);
      await waitFor(client, job, { timeout: patience(60_000) });
    });
  });

  assert.deepEqual(await survivors(pids, 1000), [], "a control-plane process outlived stop()");
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the private directory outlived stop()");
});

for (const signal of ["SIGINT", "SIGHUP", "SIGKILL"] as const) {
  Deno.test(`after ${signal} to the task no control-plane process is left`, async () => {
    const { child, info } = await hold();
    const pids = (await Promise.all(info.pids.map(processTree))).flat();
    assert.ok(pids.length >= 4, `expected guards and daemons, got ${pids}`);
    for (const p of pids) assert.ok(await alive(p));
    child.kill(signal);
    const status = await child.status;
    assert.notEqual(status.code, 0);
    // Observed, not cleaned up: the processes must have gone by themselves.
    assert.deepEqual(await survivors(pids), [], `still running after ${signal}`);
    if (signal !== "SIGKILL") {
      await assert.rejects(Deno.stat(info.dir), Deno.errors.NotFound, `${info.dir} left after ${signal}`);
    } else {
      // Nothing can run in a process killed outright: its directory stays, but holds no live process.
      await Deno.remove(info.dir, { recursive: true }).catch(() => {});
    }
  });
}

/** Every process on the machine whose command line contains `text`. */
async function processesNaming(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const line = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (line.includes(text)) pids.push(Number(e.name));
  }
  return pids;
}

/** The suite's tools, with `tool` replaced by the program at `fake`. */
function runnerWithFake(tool: string, fake: string, env: Record<string, string> = {}): Runner {
  const tools = toolRunner();
  return tools.with({
    env: { ...tools.env, ...env },
    resolve: (name) => name === tool ? Promise.resolve(fake) : tools.resolve(name),
  });
}

for (const failing of ["kube-apiserver", "etcd"] as const) {
  Deno.test(`a control plane whose ${failing} fails to start leaves no process and no directory`, async () => {
    await withTempDir(async (tmp) => {
      // A daemon that exits at once, as one does on a bad flag.
      const fake = await fakeTool(
        tmp,
        failing,
        `echo "${failing}: cannot start: unknown flag --frobnicate" >&2\nexit 1`,
      );
      const runner = runnerWithFake(failing, fake);
      const started: string[] = [];
      let hint = "";
      await assert.rejects(
        startControlPlane(runner, { timeout: patience(60_000), log: (line) => started.push(line.split(" ")[1]) }),
        (e: Error & { hint?: string }) => {
          hint = e.hint ?? "";
          return e.message.startsWith(`${failing} exited while waiting for `) &&
            e.message.includes("cannot start: unknown flag --frobnicate");
        },
      );
      // etcd was up and healthy when the API server was started (and failed).
      assert.deepEqual(started, failing === "etcd" ? ["etcd"] : ["etcd", "kube-apiserver"]);
      const dir = /its whole log was (\S+)\/logs\//.exec(hint)?.[1];
      assert.ok(dir?.includes("homelab-cp-"), hint);
      // Test files run side by side in this process: look for the processes of this control
      // plane (their command lines name its directory), not for every child of the process.
      const left = await processesNaming(dir!);
      assert.deepEqual(await survivors(left, 1000), [], "a daemon outlived the failed start");
      await assert.rejects(Deno.stat(dir!), Deno.errors.NotFound, `${dir} outlived the failed start`);
    });
  });
}

Deno.test("a port taken between finding it free and binding it: the start is tried again with other ports, three times at most", async () => {
  await withTempDir(async (tmp) => {
    // kube-apiserver always finds its port taken (as when another program got it first).
    const fake = await fakeTool(
      tmp,
      "kube-apiserver",
      `echo "failed to listen: bind: address already in use" >&2\nexit 1`,
    );
    const runner = runnerWithFake("kube-apiserver", fake);
    const lines: string[] = [];
    let hint = "";
    await assert.rejects(
      startControlPlane(runner, { timeout: patience(60_000), log: (line) => lines.push(line) }),
      (e: Error & { hint?: string }) => {
        hint = e.hint ?? "";
        return /address already in use/.test(e.message);
      },
    );
    assert.equal(lines.filter((l) => l.startsWith("starting kube-apiserver")).length, 3, lines.join("\n"));
    assert.equal(lines.filter((l) => /a port was taken meanwhile/.test(l)).length, 2, lines.join("\n"));
    const dir = /its whole log was (\S+)\/logs\//.exec(hint)?.[1];
    assert.ok(dir?.includes("homelab-cp-"), hint);
    assert.deepEqual(await survivors(await processesNaming(dir!), 1000), [], "a daemon outlived the failed start");
    await assert.rejects(Deno.stat(dir!), Deno.errors.NotFound);
  });
});

Deno.test("apiServerMemoryMiB: kube-apiserver runs with that soft memory limit (GOMEMLIMIT), and without one by default", async () => {
  await withTempDir(async (tmp) => {
    // A kube-apiserver that notes the limit it was given, then fails the start.
    const seen = join(tmp, "limit");
    const fake = await fakeTool(tmp, "kube-apiserver", `echo "limit=\${GOMEMLIMIT-none}" >> "${seen}"\nexit 1`);
    const runner = runnerWithFake("kube-apiserver", fake, { GOMEMLIMIT: "" });
    for (const apiServerMemoryMiB of [700, undefined]) {
      await assert.rejects(startControlPlane(runner, { timeout: patience(60_000), apiServerMemoryMiB }));
    }
    assert.deepEqual((await Deno.readTextFile(seen)).trim().split("\n"), ["limit=700MiB", "limit="]);
  });
});

Deno.test("kube-apiserver's certificate file seen before its content is written does not hold up the start", async () => {
  await withTempDir(async (tmp) => {
    // The real kube-apiserver, started after its certificate file has existed empty for a while,
    // as between its creation and its writing: a start that trusts what it read first (nothing)
    // could never connect. The file stays empty far longer than the control plane waits between
    // two looks at it; it is then removed (kube-apiserver refuses a certificate without its key)
    // and kube-apiserver writes a new pair.
    const real = await toolRunner().resolve("kube-apiserver");
    const fake = await fakeTool(
      tmp,
      "kube-apiserver",
      `for a in "$@"; do case $a in --cert-dir=*) dir=\${a#--cert-dir=} ;; esac; done
: > "$dir/apiserver.crt"
sleep 2
rm "$dir/apiserver.crt"
exec "${real}" "$@"`,
    );
    const runner = runnerWithFake("kube-apiserver", fake);
    const cp = await startControlPlane(runner, { timeout: patience(60_000) });
    try {
      const r = await cp.client.must<{ gitVersion: string }>("GET", "/version");
      assert.match(r.body.gitVersion, /^v1\./);
    } finally {
      await cp.stop();
    }
  });
});
