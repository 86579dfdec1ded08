/**
 * Argo CD against the local control plane: its Redis (miniredis), repo-server and
 * application-controller as plain processes of the pinned `argocd` and `miniredis` tools,
 * started on 127.0.0.1 and stopped with the control plane (the daemon guard of lib/cmd.ts).
 *
 * Before the controller starts, the control plane gets what an Argo CD installation holds: the
 * CRDs of the pinned release (shipped beside the binary by `deno task tools`), the `argocd`
 * namespace, argocd-cm, argocd-rbac-cm, argocd-secret and
 * the `default` AppProject that argocd-server would otherwise create.
 *
 * ```ts
 * const argo = await startArgoCD(runner, cp, { reconciliation: 5 });
 * // apply Applications in argo.namespace, then follow their status
 * await argo.stop();
 * ```
 *
 * One thing does not stay on 127.0.0.1: the application-controller's metrics server listens on
 * every interface (`0.0.0.0:<metrics port>`, fixed in its code; it has no address flag).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { parse } from "yaml";
import { onExit } from "../cleanup.ts";
import { cmd, type Daemon, type Runner, startDaemon } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { type ControlPlane, freePort } from "../kube/controlplane.ts";
import { waitFor } from "../kube/wait.ts";
import type { KubeObject } from "../render/model.ts";
import { exists } from "../files.ts";

/** Options of {@link startArgoCD}. */
export interface ArgoCDOptions {
  /**
   * How often Argo CD compares every Application again, in seconds (the application-controller's
   * `--app-resync`, which its Deployment takes from argocd-cm `timeout.reconciliation`); no jitter.
   */
  readonly reconciliation?: number;
  /**
   * Argo CD's settings as the cluster gets them (argocd-cm, argocd-rbac-cm, argocd-cmd-params-cm,
   * …, rendered from system/argocd), applied instead of the bare defaults. argocd-secret keeps
   * the key made here.
   */
  readonly settings?: readonly KubeObject[];
  /** Environment the cluster's Deployments give each process (see {@link workloadEnv}). */
  readonly env?: { readonly repoServer?: Record<string, string>; readonly controller?: Record<string, string> };
  /** Directories put before the control plane's PATH for the repo-server (helm, kustomize, a `ksops`). */
  readonly path?: readonly string[];
  /** Milliseconds to wait for each component. */
  readonly timeout?: number;
  /** The application-controller's log level (its log is `argocd/logs/` in the control plane's folder). */
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  /** Told what is happening, one line per step. */
  readonly log?: (line: string) => void;
}

/** A running Argo CD. */
export interface ArgoCD {
  /** Where its Applications, AppProjects and settings live. */
  readonly namespace: string;
  readonly daemons: readonly Daemon[];
  /** Stops the processes (the control plane keeps running). Safe to call twice. */
  stop(): Promise<void>;
}

const NAMESPACE = "argocd";
/** Port 9 (discard) on 127.0.0.1: nobody listens there, so a proxy pointed at it refuses. */
const REFUSING_PORT = 9;
const PART_OF = { "app.kubernetes.io/part-of": "argocd" };

/** Waits until something accepts TCP connections on 127.0.0.1:`port`; fails when `daemon` exits. */
async function listening(daemon: Daemon, port: number, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  let exited = false;
  daemon.exited.then(() => exited = true);
  for (let delay = 20;; delay = Math.min(delay * 1.5, 250)) {
    if (exited) {
      const log = await Deno.readTextFile(daemon.logFile).catch(() => "");
      throw new HomelabError(`${daemon.name} exited before it listened on 127.0.0.1:${port}:\n${log.slice(-2000)}`, {
        hint: `its whole log is ${daemon.logFile}`,
      });
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new HomelabError(`timed out after ${timeout / 1000}s waiting for ${daemon.name} on 127.0.0.1:${port}`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Where `deno task tools` put the argocd binary, its CRDs (`crds/`) and helper scripts (`bin/`). */
async function argocdHome(runner: Runner): Promise<string> {
  return dirname(await Deno.realPath(await runner.resolve("argocd")));
}

/** The CRDs of the pinned Argo CD release, which `deno task tools` puts beside the binary. */
async function argocdCrds(runner: Runner): Promise<KubeObject[]> {
  const dir = join(await argocdHome(runner), "crds");
  const out: KubeObject[] = [];
  for (const name of ["application-crd.yaml", "appproject-crd.yaml", "applicationset-crd.yaml"]) {
    const text = await Deno.readTextFile(join(dir, name)).catch(() => {
      throw new HomelabError(`Argo CD's CRDs are missing (${join(dir, name)})`, {
        hint: "run `deno task tools argocd --force`: the build copies them from Argo CD's module beside the binary",
      });
    });
    out.push(parse(text) as KubeObject);
  }
  return out;
}

/** The installation Argo CD's processes expect to find in the cluster. */
function installation(settings: readonly KubeObject[] = []): KubeObject[] {
  const secretKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  const given = new Set(settings.map((o) => `${o.kind}/${o.metadata.name}`));
  const defaults: KubeObject[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "argocd-cm", namespace: NAMESPACE, labels: PART_OF },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "argocd-rbac-cm", namespace: NAMESPACE, labels: PART_OF },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "argocd-secret", namespace: NAMESPACE, labels: PART_OF },
      data: { "server.secretkey": btoa(secretKey) },
    },
    {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "AppProject",
      metadata: { name: "default", namespace: NAMESPACE },
      spec: {
        sourceRepos: ["*"],
        destinations: [{ server: "*", namespace: "*" }],
        clusterResourceWhitelist: [{ group: "*", kind: "*" }],
      },
    },
  ];
  const secret = (o: KubeObject): KubeObject =>
    o.kind === "Secret" && o.metadata.name === "argocd-secret"
      ? { ...o, data: { ...(o as { data?: Record<string, string> }).data, "server.secretkey": btoa(secretKey) } }
      : o;
  return [
    defaults[0],
    ...settings.map(secret),
    ...defaults.slice(1).filter((o) => !given.has(`${o.kind}/${o.metadata.name}`) || o.kind === "AppProject"),
  ];
}

/**
 * The plain environment variables a rendered Deployment or StatefulSet gives its first
 * container: literal values and ConfigMap keys (resolved against `configMaps`; a missing optional
 * key is left out). Secrets and field references are left out: nothing here reads them.
 */
export function workloadEnv(
  workload: KubeObject | undefined,
  configMaps: readonly KubeObject[],
): Record<string, string> {
  type EnvVar = { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string } } };
  const spec = (workload as { spec?: { template?: { spec?: { containers?: { env?: EnvVar[] }[] } } } } | undefined)
    ?.spec?.template?.spec?.containers?.[0];
  const out: Record<string, string> = {};
  for (const e of spec?.env ?? []) {
    if (e.value !== undefined) out[e.name] = String(e.value);
    const ref = e.valueFrom?.configMapKeyRef;
    if (!ref) continue;
    const cm = configMaps.find((o) => o.kind === "ConfigMap" && o.metadata.name === ref.name) as
      | { data?: Record<string, string> }
      | undefined;
    const value = cm?.data?.[ref.key];
    if (value !== undefined) out[e.name] = String(value);
  }
  return out;
}

/** Installs and starts Argo CD on `cp`; see the module documentation. */
export async function startArgoCD(runner: Runner, cp: ControlPlane, options: ArgoCDOptions = {}): Promise<ArgoCD> {
  const timeout = options.timeout ?? 60_000;
  const log = options.log ?? (() => {});
  const dir = join(cp.dir, "argocd");
  const daemons: Daemon[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const d of [...daemons].reverse()) await d.stop();
    })();
    return stopped;
  };
  // Registered after the control plane's, so it runs first when the task ends.
  const cancelExit = onExit(stop);
  try {
    for (const sub of ["", "tmp", "tls", "ssh", "gnupg", "logs"]) await Deno.mkdir(join(dir, sub), { mode: 0o700 });

    log("installing Argo CD's CRDs and settings");
    // Argo CD's CRDs already in place (the tree's, created as Argo CD's own sync applies them) are
    // kept: replacing them here would only have the sync change them back.
    const crds: KubeObject[] = [];
    for (const crd of await argocdCrds(runner)) {
      const { apiVersion, kind, metadata } = crd;
      if (!await cp.client.get({ apiVersion, kind, metadata: { name: metadata.name! } })) crds.push(crd);
    }
    for (const crd of crds) {
      const r = await cp.client.apply(crd, { fieldManager: "homelab-rehearse" });
      if (r.status >= 300) {
        throw new HomelabError(`Argo CD's CRD ${crd.metadata.name} was refused: ${JSON.stringify(r.body)}`);
      }
    }
    for (const crd of crds) await waitFor(cp.client, { ...crd, metadata: { name: crd.metadata.name! } }, { timeout });
    cp.client.forgetDiscovery();
    for (const o of installation(options.settings)) {
      const r = await cp.client.apply(o, { fieldManager: "homelab-rehearse" });
      if (r.status >= 300) {
        throw new HomelabError(`${o.kind} ${o.metadata.name} was refused: ${JSON.stringify(r.body)}`);
      }
    }

    const env: Record<string, string> = {
      KUBECONFIG: cp.kubeconfig,
      // The in-cluster destination (https://kubernetes.default.svc) is the kubeconfig's server.
      ARGOCD_FAKE_IN_CLUSTER: "true",
      ARGOCD_GPG_ENABLED: "false",
      ARGOCD_TLS_DATA_PATH: join(dir, "tls"),
      ARGOCD_SSH_DATA_PATH: join(dir, "ssh"),
      GNUPGHOME: join(dir, "gnupg"),
      ARGOCD_ASK_PASS_SOCK: join(dir, "askpass.sock"),
      TMPDIR: join(dir, "tmp"),
      HOME: dir,
      // Anything fetched over HTTP(S) (a chart or manifest not in the cache) goes to a proxy that
      // refuses it: no packet leaves 127.0.0.1.
      HTTP_PROXY: `http://127.0.0.1:${REFUSING_PORT}`,
      HTTPS_PROXY: `http://127.0.0.1:${REFUSING_PORT}`,
      http_proxy: `http://127.0.0.1:${REFUSING_PORT}`,
      https_proxy: `http://127.0.0.1:${REFUSING_PORT}`,
      NO_PROXY: "127.0.0.1,localhost",
      no_proxy: "127.0.0.1,localhost",
    };
    // git-verify-wrapper.sh, which the repo-server runs for every revision, then what the caller adds.
    const helpers = join(await argocdHome(runner), "bin");
    if (!await exists(join(helpers, "git-verify-wrapper.sh"))) {
      throw new HomelabError(`Argo CD's git-verify-wrapper.sh is missing from ${helpers}`, {
        hint: "run `deno task tools argocd --force`: the build copies it from Argo CD's module beside the binary",
      });
    }
    env.PATH = [helpers, ...options.path ?? [], runner.env.PATH ?? ""].join(":");

    const redisPort = freePort();
    log(`starting miniredis on 127.0.0.1:${redisPort}`);
    const redis = await startDaemon(
      runner,
      cmd("miniredis", ["--port", String(redisPort)]),
      join(dir, "logs", "miniredis.log"),
    );
    daemons.push(redis);
    await listening(redis, redisPort, timeout);
    const redisAddress = `127.0.0.1:${redisPort}`;

    const repoPort = freePort();
    log(`starting Argo CD's repo-server on 127.0.0.1:${repoPort}`);
    const repoServer = await startDaemon(
      runner,
      cmd("argocd", [
        "--address=127.0.0.1",
        `--port=${repoPort}`,
        "--metrics-address=127.0.0.1",
        `--metrics-port=${freePort()}`,
        `--redis=${redisAddress}`,
        "--disable-tls",
        // Its default names a mounted Secret's path, which --disable-tls refuses to go with.
        "--client-ca-path=",
        "--loglevel=warn",
      ], { env: { ...options.env?.repoServer, ...env, ARGOCD_BINARY_NAME: "argocd-repo-server" } }),
      join(dir, "logs", "repo-server.log"),
    );
    daemons.push(repoServer);
    await listening(repoServer, repoPort, timeout);

    log("starting Argo CD's application-controller");
    daemons.push(
      await startDaemon(
        runner,
        cmd("argocd", [
          `--kubeconfig=${cp.kubeconfig}`,
          `--namespace=${NAMESPACE}`,
          `--repo-server=127.0.0.1:${repoPort}`,
          "--repo-server-plaintext",
          `--redis=${redisAddress}`,
          `--metrics-port=${freePort()}`,
          `--app-resync=${options.reconciliation ?? 10}`,
          "--app-resync-jitter=0",
          // Each resource's health in the Application's status (Argo CD 3 leaves it out by default),
          // so a report can name the resource that is not Healthy and Argo CD's message on it.
          "--persist-resource-health",
          `--loglevel=${options.logLevel ?? "warn"}`,
        ], { env: { ...options.env?.controller, ...env, ARGOCD_BINARY_NAME: "argocd-application-controller" } }),
        join(dir, "logs", "application-controller.log"),
      ),
    );
    return { namespace: NAMESPACE, daemons, stop: cancelExit };
  } catch (err) {
    await cancelExit();
    throw err;
  }
}
