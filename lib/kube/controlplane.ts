/**
 * A real Kubernetes control plane on 127.0.0.1: etcd and kube-apiserver, and when asked
 * kube-controller-manager, kube-scheduler and kwok (simulated nodes on which pods run and
 * become Ready). It answers "will the cluster accept this?" (`check --server`) and is the
 * cluster every test that talks to Kubernetes uses.
 *
 * Everything lives in a private temporary directory: throw-away keys and certificates, a static
 * token, etcd's data, the logs and a kubeconfig. Every listener is on 127.0.0.1 with a free
 * port. No packet leaves the machine: every connection kube-apiserver would open to a webhook,
 * an aggregated API, a kubelet or a Service goes to a proxy that refuses it (lib/kube/egress.ts).
 * Every process stops when {@link ControlPlane.stop} is called, when the task ends (also on
 * Ctrl-C, SIGTERM, SIGHUP), and even when this process is killed outright (see
 * {@link startDaemon}).
 *
 * ```ts
 * const cp = await startControlPlane(runner, { controllers: true, nodes: ["node-1"] });
 * // cp.kubeconfig, cp.client.apply(obj, { dryRun: true }), …
 * await cp.stop();
 * ```
 *
 * @module
 */

import { dirname, join } from "node:path";
import { stringify } from "yaml";
import { onExit, privateTempDir, socketDir } from "../cleanup.ts";
import { cmd, type Daemon, type Runner, startDaemon, tail } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { KubeClient } from "./client.ts";
import { type EgressGuard, egressSelectorConfiguration, startEgressGuard } from "./egress.ts";
import type { KubeObject } from "../render/model.ts";
import { exists } from "../files.ts";
import { poll } from "../poll.ts";

/** A simulated node: its name, and the labels and taints the real node has. */
export interface SimulatedNode {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly taints?: readonly { readonly key: string; readonly value?: string; readonly effect: string }[];
}

/** A CRD to create, and the field manager that applies it. */
export interface CrdToCreate {
  readonly crd: KubeObject;
  readonly fieldManager?: string;
}

/** What to run besides etcd and kube-apiserver. */
export interface ControlPlaneOptions {
  /**
   * Run kube-controller-manager and kube-scheduler. Without them ServiceAccount admission
   * refuses every Pod (no `default` ServiceAccount) and namespaces never finish deleting.
   */
  readonly controllers?: boolean;
  /** Simulated nodes to create (a name, or a name with labels and taints); kwok runs when there is at least one. */
  readonly nodes?: readonly (string | SimulatedNode)[];
  /**
   * More kwok Stage files (e.g. `rehearse/stages/*.yaml`), given to kwok after its own: they set
   * the status that controllers which do not run here would set. kwok maps the kind of each Stage
   * once, when it starts, and exits when that kind is not served: install the CRDs they name
   * with {@link ControlPlaneOptions.crds}.
   */
  readonly stages?: readonly string[];
  /**
   * CustomResourceDefinitions created before kwok starts, and waited for until Established and
   * in the API server's OpenAPI documents. Each is applied server-side by the control plane's own
   * field manager, or by the one given with it.
   */
  readonly crds?: readonly (KubeObject | CrdToCreate)[];
  /**
   * The AdmissionConfiguration (YAML) kube-apiserver is given: the Pod Security settings of the
   * real cluster, taken from the machine config Talos runs.
   */
  readonly admission?: string;
  /**
   * `false`: admission webhooks are not called (kube-apiserver's two webhook admission plugins are
   * off), for a cluster whose webhook servers do not run. Their configurations are still stored.
   */
  readonly webhooks?: boolean;
  /**
   * A soft memory limit for kube-apiserver, in MiB (Go's `GOMEMLIMIT`): its garbage collector then
   * works harder as the heap nears it instead of letting it grow to twice what is live.
   */
  readonly apiServerMemoryMiB?: number;
  /** Milliseconds to wait for each component to become ready. */
  readonly timeout?: number;
  /** Told what is happening, one line per step. */
  readonly log?: (line: string) => void;
}

/** A running control plane. */
export interface ControlPlane {
  /** `https://127.0.0.1:PORT`. */
  readonly server: string;
  /** A kubeconfig (0600, in the private directory) for kubectl and other tools. */
  readonly kubeconfig: string;
  readonly client: KubeClient;
  /** The private directory (keys, data, logs). */
  readonly dir: string;
  readonly daemons: readonly Daemon[];
  /**
   * The proxy every connection the API server would open to a webhook, an aggregated API, a
   * kubelet or a Service goes through, and is refused by (see lib/kube/egress.ts).
   */
  readonly egress: EgressGuard;
  /** Stops every process and removes the directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** A port nobody listens on now, on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
}

/** A new ECDSA P-256 key pair as PEM: the private key (PKCS #8) and the public key (SPKI). */
async function newKeyPairPem(): Promise<{ privateKey: string; publicKey: string }> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  return {
    privateKey: pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    publicKey: pem("PUBLIC KEY", await crypto.subtle.exportKey("spki", pair.publicKey)),
  };
}

function randomToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function writePrivate(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
}

/** How long one attempt of {@link until} may take before it counts as "no answer". */
export const ATTEMPT_MS = 15_000;

/**
 * Polls `probe` until it returns true; fails early when a daemon exits, naming its log. A probe
 * that returns a string says what it saw instead (e.g. the readiness checks still failing), and an
 * attempt that throws or does not answer within {@link ATTEMPT_MS} is noted too: a timeout names
 * the last thing seen and the tail of the server's log, so a slow or stuck start explains itself.
 */
export async function until(
  what: string,
  probe: (signal: AbortSignal) => Promise<boolean | string>,
  options: {
    /** The daemons that must keep running meanwhile. */
    readonly watch: readonly WatchedDaemon[];
    /** The whole wait, in milliseconds. */
    readonly timeout: number;
    /** One attempt, in milliseconds (default {@link ATTEMPT_MS}). */
    readonly attemptMs?: number;
    /** The daemon whose log a timeout shows (default: the last one watched). */
    readonly explain?: WatchedDaemon;
  },
): Promise<void> {
  const { watch, timeout, attemptMs = ATTEMPT_MS, explain = watch.at(-1) } = options;
  let exited: WatchedDaemon | undefined;
  for (const d of watch) d.exited.then(() => (exited ??= d));
  const exitError = async (d: WatchedDaemon) =>
    new HomelabError(
      `${d.name} exited while waiting for ${what}:\n${indent(tail(await readLog(d), 12))}`,
      { hint: `its whole log was ${d.logFile}; DEBUG=1 prints every command` },
    );
  const start = Date.now();
  let last = "no attempt finished";
  const ready = await poll(async () => {
    if (exited) throw await exitError(exited);
    const signal = AbortSignal.timeout(attemptMs);
    // The race ends the attempt also when the probe does not heed the signal.
    const aborted = new Promise<never>((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason), { once: true })
    );
    const seen = await Promise.race([probe(signal), aborted]).catch((e: unknown) =>
      signal.aborted ? `no answer within ${attemptMs / 1000}s` : e instanceof Error ? e.message : String(e)
    );
    if (seen === true) return true;
    last = seen === false ? "not yet" : seen;
    return undefined;
  }, { timeoutMs: timeout, delayMs: 20, factor: 1.5, maxDelayMs: 250 });
  if (ready) return;
  if (exited) throw await exitError(exited);
  const log = explain ? await readLog(explain) : "";
  throw new HomelabError(
    `timed out after ${Math.round((Date.now() - start) / 1000)}s waiting for ${what}; last seen: ${last}` +
      (log ? `\n${explain!.name}'s log ends:\n${indent(tail(log, 12))}` : ""),
    { hint: "the machine may be overloaded; try again, or raise the timeout" },
  );
}

/** What {@link until} needs of a daemon. */
type WatchedDaemon = Pick<Daemon, "name" | "logFile" | "exited">;

function readLog(d: WatchedDaemon): Promise<string> {
  return Deno.readTextFile(d.logFile).catch(() => "");
}

function indent(text: string): string {
  return text.split("\n").map((l) => `  | ${l}`).join("\n");
}

/** True when `/readyz` answers 200; otherwise the checks it reports as failing (`[-]…` lines), or its status. */
export async function notReady(client: Pick<KubeClient, "request">, signal: AbortSignal): Promise<true | string> {
  const r = await client.request("GET", "/readyz?verbose", { signal });
  if (r.status === 200) return true;
  const failing = String(r.body ?? "").split("\n").filter((l) => l.startsWith("[-]")).map((l) => l.slice(3).trim());
  return failing.length ? `failing readiness checks: ${failing.join("; ")}` : `/readyz answered ${r.status}`;
}

/** How long a node's Lease lasts; kwok renews it every quarter of that, as the kubelet does. */
export const NODE_LEASE_SECONDS = 40;

/** Where kwok's Stage definitions are: beside the binary, where `deno task tools` puts them. */
async function kwokStages(runner: Runner): Promise<string[]> {
  const exe = await Deno.realPath(await runner.resolve("kwok"));
  const base = join(dirname(exe), "stages");
  const files = [
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
  ].map((f) => join(base, f));
  for (const f of files) {
    if (!await exists(f)) {
      throw new HomelabError(`kwok's Stage definitions are missing (${f})`, {
        hint: "run `deno task tools kwok --force`: the build copies them from kwok's module beside the binary",
      });
    }
  }
  return files;
}

/** Starts a control plane; see the module documentation. */
export async function startControlPlane(runner: Runner, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  // A port found free can be taken by another program before etcd or kube-apiserver binds it
  // (any outgoing connection on this machine may get it): such a start is tried again, with new ports.
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(runner, options);
    } catch (err) {
      if (attempt >= PORT_ATTEMPTS || !(err instanceof HomelabError) || !/address already in use/.test(err.message)) {
        throw err;
      }
      options.log?.("a port was taken meanwhile; starting again with other ports");
    }
  }
}

/** How many starts {@link startControlPlane} tries when a port was taken. */
const PORT_ATTEMPTS = 3;

async function startOnce(runner: Runner, options: ControlPlaneOptions): Promise<ControlPlane> {
  const timeout = options.timeout ?? 60_000;
  const log = options.log ?? (() => {});
  const dir = await privateTempDir("homelab-cp-");
  const daemons: Daemon[] = [];
  let client: KubeClient | undefined;
  let guard: EgressGuard | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      client?.close();
      for (const d of [...daemons].reverse()) await d.stop();
      await guard?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return stopped;
  };
  const cancelExit = onExit(stop);
  try {
    const pki = join(dir, "pki");
    await Deno.mkdir(pki, { mode: 0o700 });
    await Deno.mkdir(join(dir, "logs"), { mode: 0o700 });
    const token = randomToken();
    // The key service account tokens are signed with.
    const saKey = join(pki, "sa.key");
    const saPub = join(pki, "sa.pub");
    const sa = await newKeyPairPem();
    await writePrivate(saKey, sa.privateKey);
    await writePrivate(saPub, sa.publicKey);
    const tokens = join(pki, "tokens.csv");
    await writePrivate(tokens, `${token},homelab-admin,homelab-admin,"system:masters"\n`);

    // etcd
    const etcdPort = freePort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${freePort()}`;
    log(`starting etcd on ${etcdUrl}`);
    daemons.push(
      await startDaemon(
        runner,
        cmd("etcd", [
          "--name=local",
          `--data-dir=${join(dir, "etcd")}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=local=${peerUrl}`,
          // Throw-away data: no fsync, short elections.
          "--unsafe-no-fsync",
          "--heartbeat-interval=10",
          "--election-timeout=100",
          "--log-level=warn",
        ]),
        join(dir, "logs", "etcd.log"),
      ),
    );
    await until(
      "etcd to be healthy",
      async (signal) => {
        const r = await fetch(`${etcdUrl}/health`, { signal });
        const body = await r.text();
        return (r.ok && JSON.parse(body).health === "true") || `/health answered ${r.status} ${body.trim()}`;
      },
      { watch: daemons, timeout },
    );

    // kube-apiserver
    const port = freePort();
    const server = `https://127.0.0.1:${port}`;
    const args = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${port}`,
      "--advertise-address=127.0.0.1",
      // With a loopback advertise address the endpoint reconciler would make the apiserver exit.
      "--endpoint-reconciler-type=none",
      `--cert-dir=${pki}`,
      `--token-auth-file=${tokens}`,
      "--authorization-mode=RBAC",
      "--allow-privileged=true",
      "--service-cluster-ip-range=10.96.0.0/12",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      "--profiling=false",
    ];
    // Connections to anything but etcd go through the egress guard, which refuses them all. Its
    // socket sits in a private folder with a short path: a Unix socket's path holds 107 bytes at
    // most, and this directory's may already be long (a deep TMPDIR, test folders).
    guard = startEgressGuard(join(await socketDir(), `egress-${dir.slice(-8)}.sock`));
    const egressConfig = join(dir, "egress.yaml");
    await writePrivate(egressConfig, egressSelectorConfiguration(guard.socket));
    args.push(`--egress-selector-config-file=${egressConfig}`);
    if (options.admission) {
      const admission = join(dir, "admission.yaml");
      await writePrivate(admission, options.admission);
      args.push(`--admission-control-config-file=${admission}`);
    }
    if (options.webhooks === false) {
      args.push("--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook");
    }
    log(`starting kube-apiserver on ${server}`);
    const memory = options.apiServerMemoryMiB ? { GOMEMLIMIT: `${options.apiServerMemoryMiB}MiB` } : undefined;
    const apiServer = await startDaemon(
      runner,
      cmd("kube-apiserver", args, { env: memory }),
      join(dir, "logs", "kube-apiserver.log"),
    );
    daemons.push(apiServer);
    // kube-apiserver writes its self-signed certificate (with the CA that signed it) before it
    // listens. The file exists a moment before its content does (created, then written): each
    // attempt reads it anew, so a read that came too early cannot make every later attempt fail.
    const caFile = join(pki, "apiserver.crt");
    let caPem = "";
    await until(
      "kube-apiserver to be ready",
      async (signal) => {
        const pem = await Deno.readTextFile(caFile).catch(() => "");
        if (!pem.includes("-----END CERTIFICATE-----")) return `its certificate ${caFile} is not written yet`;
        // A connection of its own per attempt: one opened while the server was still starting
        // cannot hold up the next.
        const probe = new KubeClient({ server, caPem: pem, token });
        try {
          const ready = await notReady(probe, signal);
          if (ready === true) caPem = pem;
          return ready;
        } finally {
          probe.close();
        }
      },
      { watch: daemons, timeout },
    );
    client = new KubeClient({ server, caPem, token });
    const c = client;

    const kubeconfig = join(dir, "kubeconfig");
    await writePrivate(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: { server, "certificate-authority": caFile } }],
        users: [{ name: "homelab-admin", user: { token } }],
        contexts: [{ name: "local", context: { cluster: "local", user: "homelab-admin" } }],
        "current-context": "local",
      }),
    );

    if (options.controllers) {
      log("starting kube-controller-manager and kube-scheduler");
      daemons.push(
        await startDaemon(
          runner,
          cmd("kube-controller-manager", [
            `--kubeconfig=${kubeconfig}`,
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            `--secure-port=${freePort()}`,
            `--service-account-private-key-file=${saKey}`,
            `--root-ca-file=${caFile}`,
            "--use-service-account-credentials=false",
            "--controllers=*,-csrsigning,-nodeipam",
          ]),
          join(dir, "logs", "kube-controller-manager.log"),
        ),
        await startDaemon(
          runner,
          cmd("kube-scheduler", [
            `--kubeconfig=${kubeconfig}`,
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            `--secure-port=${freePort()}`,
          ]),
          join(dir, "logs", "kube-scheduler.log"),
        ),
      );
      await until(
        "the default ServiceAccount",
        async (signal) => {
          const r = await c.request("GET", "/api/v1/namespaces/default/serviceaccounts/default", { signal });
          return r.status === 200 || `the ServiceAccount: ${r.status}`;
        },
        // kube-controller-manager creates it.
        { watch: daemons, timeout, explain: daemons.at(-2) },
      );
    }

    if (options.crds?.length) {
      log(`creating ${options.crds.length} CustomResourceDefinition(s)`);
      const toCreate = options.crds.map((c): CrdToCreate => "crd" in c ? c as CrdToCreate : { crd: c as KubeObject });
      for (const { crd, fieldManager } of toCreate) {
        const r = await client.apply(crd, { fieldManager });
        if (r.status >= 300) {
          throw new HomelabError(
            `the local control plane refused CustomResourceDefinition ${crd.metadata?.name}: ${
              (r.body as { message?: string }).message
            }`,
          );
        }
      }
      const names = toCreate.map(({ crd }) => crd.metadata?.name);
      // kwok reads the schema of each kind it acts on from /openapi/v3, which lists a new group
      // version a little after its CRD is Established.
      const paths = toCreate.flatMap(({ crd: c }) => {
        const spec = c.spec as { group: string; versions: { name: string; served: boolean }[] };
        return spec.versions.filter((v) => v.served).map((v) => `apis/${spec.group}/${v.name}`);
      });
      await until(
        "the CustomResourceDefinitions to be Established and published",
        async (signal) => {
          const r = await c.must<
            { items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[] }
          >(
            "GET",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            { signal },
          );
          const established = new Set(
            r.body.items.filter((x) =>
              x.status?.conditions?.some((y) => y.type === "Established" && y.status === "True")
            )
              .map((x) => x.metadata.name),
          );
          const pending = names.filter((n) => !n || !established.has(n));
          if (pending.length) return `not Established: ${pending.join(", ")}`;
          const openapi = await c.must<{ paths: Record<string, unknown> }>("GET", "/openapi/v3", { signal });
          const unpublished = paths.filter((p) => !(p in openapi.body.paths));
          return !unpublished.length || `not yet in /openapi/v3: ${unpublished.join(", ")}`;
        },
        // Listing every CRD (all of a tree's, in a rehearsal: many megabytes) can take a while on
        // a busy machine; kube-apiserver itself answers within its one-minute request timeout.
        { watch: daemons, timeout, explain: apiServer, attemptMs: 60_000 },
      );
      // The client learnt the API before these kinds existed.
      client.forgetDiscovery();
    }

    const nodes = options.nodes ?? [];
    if (nodes.length) {
      const stages = [...await kwokStages(runner), ...options.stages ?? []];
      log(`starting kwok with ${nodes.length} simulated node(s)`);
      daemons.push(
        await startDaemon(
          runner,
          cmd("kwok", [
            `--kubeconfig=${kubeconfig}`,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            `--server-address=127.0.0.1:${freePort()}`,
            // Hold and renew a Lease per node, as a kubelet does: without one the node lifecycle
            // controller marks every node NotReady after its grace period (a minute or less).
            `--node-lease-duration-seconds=${NODE_LEASE_SECONDS}`,
            ...stages.map((s) => `--config=${s}`),
          ]),
          join(dir, "logs", "kwok.log"),
        ),
      );
      for (const node of nodes) {
        const { name, labels, taints }: SimulatedNode = typeof node === "string" ? { name: node } : node;
        await client.must("POST", "/api/v1/nodes", {
          body: {
            apiVersion: "v1",
            kind: "Node",
            metadata: {
              name,
              annotations: { "kwok.x-k8s.io/node": "fake" },
              labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok", ...labels },
            },
            ...(taints?.length ? { spec: { taints } } : {}),
          },
        });
      }
      await until(
        `${nodes.length} node(s) to be Ready`,
        async (signal) => {
          const r = await c.must<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>(
            "GET",
            "/api/v1/nodes",
            { signal },
          );
          const ready = r.body.items.filter((n) =>
            n.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True")
          );
          return ready.length >= nodes.length || `${ready.length} of ${nodes.length} node(s) Ready`;
        },
        { watch: daemons, timeout },
      );
    }

    return {
      server,
      kubeconfig,
      client,
      dir,
      daemons,
      egress: guard,
      async stop() {
        await cancelExit();
      },
    };
  } catch (err) {
    await cancelExit();
    throw err;
  }
}

/**
 * The OpenAPI v3 documents a running API server serves (`/openapi/v3`), by API path
 * (`api/v1`, `apis/apps/v1`): the schemas the offline check validates against, exactly as the
 * server of that version has them.
 */
export async function openapiDocuments(client: KubeClient): Promise<Map<string, unknown>> {
  const index = await client.must<{ paths: Record<string, { serverRelativeURL: string }> }>("GET", "/openapi/v3");
  const docs = new Map<string, unknown>();
  await Promise.all(
    Object.entries(index.body.paths)
      // Discovery and version documents describe no kinds.
      .filter(([path]) => /^apis?\/.+/.test(path) && path.split("/").length >= 2)
      .map(async ([path, { serverRelativeURL }]) => {
        docs.set(path, (await client.must("GET", serverRelativeURL)).body);
      }),
  );
  return docs;
}
