/**
 * `deno task rehearse`: a real Argo CD syncs this working copy into the local control plane, and
 * the rehearsal reports whether every Application became Synced and Healthy and stayed so.
 *
 * 1. render the environment offline (the Applications, their waves, Argo CD's settings, the CRDs);
 * 2. start the local control plane: controllers, kwok nodes, the Stages of `rehearse/stages/` for
 *    every kind they simulate that is served (the CRDs those kinds need, and the run-time CRDs of
 *    `schemas/runtime-crds.yaml`, are created first), Talos's Pod Security admission;
 * 3. serve a snapshot of the working copy over `git daemon` on 127.0.0.1 (lib/rehearse/snapshot.ts);
 * 4. start Argo CD (lib/rehearse/argocd.ts) with the settings rendered from `system/argocd` and the
 *    environment its Deployments give it; only what cannot be the same here is changed, and listed;
 * 5. apply the root app (or, with `--app`, those Applications) and follow every Application
 *    (lib/kube/applications.ts, as bootstrap's last step does) until all are Synced and Healthy or
 *    the deadline passes;
 * 6. force a hard refresh of every Application and require them still Synced and Healthy.
 *
 * Everything runs on 127.0.0.1 and stops when the task ends, however it ends.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { onExit } from "../cleanup.ts";
import { cmd } from "../cmd.ts";
import type { Config } from "../config.ts";
import { toolRunner } from "../context.ts";
import { HomelabError, UsageError } from "../errors.ts";
import {
  type ControlPlane,
  type CrdToCreate,
  freePort,
  type SimulatedNode,
  startControlPlane,
} from "../kube/controlplane.ts";
import { PATHS } from "../repo.ts";
import { simulatedNodes } from "./nodes.ts";
import { DEV_NAME } from "../bootstrap/dev.ts";
import { pinnedArgoCdChart, releaseOf } from "../render/argocd.ts";
import { ChartCache } from "../render/charts.ts";
import { appliedServerSide, type AppSpec, type Env, type KubeObject } from "../render/model.ts";
import { render } from "../render/pipeline.ts";
import { appSpecs } from "../render/root.ts";
import { toolSpec } from "../tools.ts";
import type { Ui } from "../ui.ts";
import { startArgoCD, workloadEnv } from "./argocd.ts";
import { type AppOutcome, clock, Follower, holdUps, type WaveOutcome } from "../kube/applications.ts";
import { checkWaveOrder } from "../check/waves.ts";
import { prepareSnapshot, SERVED_BRANCH, serveSnapshot, type Snapshot } from "./snapshot.ts";
import { type GroupKind, groupKindKey, loadHealthChecks, loadStages, stageKinds, unsimulated } from "./stages.ts";

/** Options of {@link rehearse}. */
export interface RehearseOptions {
  readonly env: Env;
  /** Only these Applications (applied directly, without the root app). */
  readonly apps?: readonly string[];
  /** How long to wait for convergence, in milliseconds. */
  readonly timeoutMs: number;
  /** How often Argo CD compares every Application again, in seconds. */
  readonly reconciliation?: number;
  /**
   * Let Argo CD create the tree's CRDs, as it does in the cluster. By default those it applies
   * server-side exist before it starts (see {@link ARGOCD_MANAGER}).
   */
  readonly crdsByArgoCD?: boolean;
  /**
   * Ends the wait before the deadline once this holds of the Applications' outcomes, with the
   * report a deadline gives: for a caller that knows what it waits to see (a test of failing
   * Applications stops when each shows its failure, instead of at a deadline guessed long enough).
   */
  readonly settled?: (apps: readonly AppOutcome[]) => boolean;
  /** Runs with the outcome before everything stops (`--keep` prints it and waits for Ctrl-C there). */
  readonly beforeStop?: (result: Rehearsal, kubeconfig: string) => Promise<void>;
}

/** What differs from the cluster, and why. */
export interface Change {
  readonly what: string;
  readonly why: string;
}

/** The rehearsal's outcome. */
export interface Rehearsal {
  readonly env: Env;
  /** The Argo CD release that ran, and the one the cluster runs. */
  readonly argocd: { readonly rehearsal: string; readonly cluster?: string };
  /** Every Application converged and stayed Synced and Healthy after a hard refresh. */
  readonly ok: boolean;
  /** Every Application was Synced and Healthy at some point before the deadline. */
  readonly converged: boolean;
  /** After the hard refresh: true when they stayed, false when not, undefined when not tried. */
  readonly stayed?: boolean;
  /** Milliseconds from applying the root app until every Application was Synced and Healthy. */
  readonly convergedMs?: number;
  readonly apps: readonly AppOutcome[];
  readonly waves: readonly WaveOutcome[];
  readonly changes: readonly Change[];
  /** Kinds Argo CD judges that nothing simulates here (their objects stay Progressing). */
  readonly unsimulated: readonly string[];
  readonly locked: Snapshot["locked"];
  readonly missing: Snapshot["missing"];
  /** Applications that failed to render (their Argo CD build fails the same way). */
  readonly renderErrors: readonly { app: string; error: string }[];
  /**
   * Wave inversions (lib/check/waves.ts): objects whose health needs what a later wave creates. The
   * local Stages cannot see them (a simulated route is accepted whether its Gateway exists or not).
   */
  readonly waveOrder: readonly { app: string; object: string; message: string }[];
  /**
   * CRDs created before Argo CD started, as its server-side apply writes them, that its sync
   * changed after all: what Argo CD applied differs from the rendering.
   */
  readonly crdsChanged: readonly string[];
  /** The wait ended before the deadline because {@link RehearseOptions.settled} held. */
  readonly settled?: true;
  /** Milliseconds each phase took before the Applications were followed. */
  readonly phases: Readonly<Record<"render" | "controlPlane" | "snapshot" | "argocd", number>>;
}

const STAGES_DIR = "rehearse/stages";

/**
 * The field manager of Argo CD's server-side apply. The tree's CRDs that Argo CD applies
 * server-side are created with it before Argo CD starts: its apply of the same object is then no
 * change at all. Each change of a CRD makes Argo CD's cluster cache run discovery and load the
 * OpenAPI document again, under its lock, one event at a time (gitops-engine pkg/cache/cluster.go);
 * a new CRD brings three events (created, names accepted, established), and on two cores the
 * tree's CRDs then took Argo CD minutes, not the sync's work.
 */
const ARGOCD_MANAGER = "argocd-controller";

/**
 * kube-apiserver's soft memory limit here (GOMEMLIMIT, MiB). Without it, its heap grew to 1.7 GiB on
 * this tree (the CRDs' schemas, and the dry runs of Argo CD's server-side diff); with it, 1.0 GiB,
 * and the rehearsal took no longer (`deno task bench --rehearse dev`).
 */
const API_SERVER_MEMORY_MIB = 1000;

/** Seconds Argo CD waits between the waves of one sync here (ARGOCD_SYNC_WAVE_DELAY). */
const SYNC_WAVE_DELAY = 0;
const HEALTH_FILE = "rehearse/argocd-health.yaml";

/** The simulated nodes of the environment (lib/rehearse/nodes.ts). */
async function nodesOf(repoRoot: string, env: Env): Promise<SimulatedNode[]> {
  const file = join(repoRoot, env === "dev" ? PATHS.kindConfig : PATHS.talconfig);
  const nodes = simulatedNodes(env, await Deno.readTextFile(file), DEV_NAME);
  if (!nodes.length) {
    throw new HomelabError(`${file} names no node`, { hint: "the rehearsal simulates the nodes it names" });
  }
  return nodes;
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}

/** The CRDs (of the rendering and the run-time ones) that serve the kinds the Stages act on. */
function crdsFor(kinds: readonly GroupKind[], crds: readonly KubeObject[]): KubeObject[] {
  const want = new Set(kinds.map(groupKindKey));
  const out = new Map<string, KubeObject>();
  for (const crd of crds) {
    const spec = (crd as { spec?: { group?: string; names?: { kind?: string } } }).spec;
    if (spec?.group && spec.names?.kind && want.has(`${spec.group}/${spec.names.kind}`)) {
      out.set(crd.metadata.name!, crd);
    }
  }
  return [...out.values()];
}

/** A CRD without what the local control plane must not hold: a conversion webhook. */
function withoutWebhook(crd: KubeObject): KubeObject {
  const spec = (crd as { spec?: { conversion?: { strategy?: string } } }).spec;
  if (spec?.conversion?.strategy !== "Webhook") return crd;
  return { ...crd, spec: { ...spec, conversion: { strategy: "None" } } } as KubeObject;
}

/**
 * Which CRDs of the rendering exist before Argo CD starts, and with which field manager:
 * - `precreated`: those serving a kind of `stagedKinds` (kwok maps a Stage's kind only when it
 *   starts), without conversion webhook;
 * - `ahead`: unless `crdsByArgoCD`, every other CRD that Argo CD applies server-side for one of the
 *   `rehearsed` Applications.
 * A CRD created exactly as Argo CD's server-side apply writes it gets its field manager
 * ({@link ARGOCD_MANAGER}); the others get the control plane's own.
 */
export function crdPlan(
  apps: readonly { app: AppSpec; objects: readonly KubeObject[]; error?: string }[],
  rehearsed: ReadonlySet<string>,
  stagedKinds: readonly GroupKind[],
  options: { crdsByArgoCD?: boolean } = {},
): { precreated: CrdToCreate[]; ahead: CrdToCreate[] } {
  const treeCrds = apps.flatMap((a) => a.objects.filter((o) => o.kind === "CustomResourceDefinition"));
  const appliedByArgo = new Map<string, KubeObject>();
  for (const a of apps) {
    if (!rehearsed.has(a.app.name) || a.error) continue;
    for (const o of a.objects) {
      if (o.kind === "CustomResourceDefinition" && appliedServerSide(a.app, o)) appliedByArgo.set(o.metadata.name!, o);
    }
  }
  const asArgo = (crd: KubeObject): CrdToCreate =>
    appliedByArgo.get(crd.metadata.name!) === crd ? { crd, fieldManager: ARGOCD_MANAGER } : { crd };
  const precreated = crdsFor(stagedKinds, treeCrds).map(withoutWebhook).map(asArgo);
  const ahead = options.crdsByArgoCD
    ? []
    : [...appliedByArgo.values()].filter((c) => !precreated.some((p) => p.crd.metadata.name === c.metadata.name))
      .map(asArgo);
  return { precreated, ahead };
}

/** Rehearses `options.env`; see the module documentation. */
export async function rehearse(config: Config, options: RehearseOptions, ui: Ui): Promise<Rehearsal> {
  const repoRoot = config.repoRoot;
  const runner = toolRunner(config, ui, { defaultTimeout: 300_000 });
  const changes: Change[] = [];
  const phases = { render: 0, controlPlane: 0, snapshot: 0, argocd: 0 };
  let mark = performance.now();
  const phase = (name: keyof typeof phases) => {
    const now = performance.now();
    phases[name] = now - mark;
    mark = now;
  };

  // 1. The rendering: Applications, waves, Argo CD's settings, CRDs.
  const rendering = await ui.progress(
    `rendering ${options.env}`,
    () => render(config, { env: options.env, offline: true }, ui),
  );
  let specs: AppSpec[] = appSpecs(rendering.root);
  if (options.apps?.length) {
    const unknown = options.apps.filter((a) => !specs.some((s) => s.name === a));
    if (unknown.length) {
      throw new UsageError(
        `no Application named ${unknown.join(", ")} in the ${options.env} root app`,
        `choose from: ${specs.map((s) => s.name).join(", ")}`,
      );
    }
    specs = specs.filter((s) => options.apps!.includes(s.name));
  }
  const renderErrors = rendering.apps.filter((a) => a.error).map((a) => ({ app: a.app.name, error: a.error! }));
  const objects = rendering.apps.flatMap((a) => a.objects);
  const treeCrds = objects.filter((o) => o.kind === "CustomResourceDefinition");

  // Stages, and the kinds Argo CD judges that nothing here brings to health.
  const stages = await loadStages(join(repoRoot, STAGES_DIR));
  const checks = await loadHealthChecks(join(repoRoot, HEALTH_FILE));
  const kinds = objects.map((o) => ({ group: groupOf(o.apiVersion), kind: o.kind }));
  const notSimulated = unsimulated(kinds, stages, checks).map(groupKindKey);

  const { readRuntimeCrdSources, runtimeCrdObjects } = await import("../check/runtimecrds.ts");
  const cache = new ChartCache(join(config.cacheDir, "charts"), runner, {
    offline: true,
    scratch: () => Promise.reject(new HomelabError("no scratch space here")),
  });
  const runtimeCrds = await runtimeCrdObjects(await readRuntimeCrdSources(repoRoot), cache);
  // kwok maps the kind of each Stage once, at its start: a Stage whose kind is not served then
  // stops it. Stages of kinds no CRD at hand serves are left out (nothing of that kind is applied).
  const servable = [...treeCrds, ...runtimeCrds];
  const builtIn = new Set(["/Service", "/PersistentVolumeClaim", "/Node", "/Pod"]);
  const stageFiles: string[] = [];
  const stagedKinds: GroupKind[] = [];
  for (const file of stages.files) {
    const path = file.startsWith("/") ? file : join(repoRoot, STAGES_DIR, file);
    const fileKinds = stageKinds(await Deno.readTextFile(path), path);
    const served = fileKinds.every((k) => builtIn.has(groupKindKey(k)) || crdsFor([k], servable).length > 0);
    if (!served) continue;
    stageFiles.push(path);
    stagedKinds.push(...fileKinds);
  }
  const { precreated, ahead } = crdPlan(rendering.apps, new Set(specs.map((s) => s.name)), stagedKinds, {
    crdsByArgoCD: options.crdsByArgoCD,
  });
  if (precreated.length) {
    changes.push({
      what: `${precreated.length} CRD(s) created before Argo CD starts: ${
        precreated.map((c) => c.crd.metadata.name).join(", ")
      }`,
      why: "kwok simulates their objects' controllers and maps a kind only when it starts; Argo CD then adopts them",
    });
  }
  const argoCrds = ahead.filter((c) => (c.crd as { spec?: { group?: string } }).spec?.group === "argoproj.io");
  if (argoCrds.length) {
    changes.push({
      what: `Argo CD runs with the tree's Argo CD CRDs (${argoCrds.map((c) => c.crd.metadata.name).join(", ")})`,
      why: "they are the cluster's; those of the release that runs here are used only where the tree has none",
    });
  }
  if (ahead.length) {
    changes.push({
      what: `${ahead.length} more CRD(s) of the tree created before Argo CD starts, each as Argo CD's server-side ` +
        "apply writes it (its sync then changes nothing)",
      why: "Argo CD reloads discovery and its OpenAPI models on every CRD event, one at a time: on two cores that " +
        "took minutes per wave; wave-order judges the order CRDs come in, and --crds-by-argocd leaves them to Argo CD",
    });
  }
  const runtime = runtimeCrds.map(withoutWebhook);
  if (runtime.length) {
    changes.push({
      what: `${runtime.length} run-time CRD(s) of schemas/runtime-crds.yaml created first`,
      why: "the operators that install them at run time do not run here",
    });
  }

  phase("render");
  // 2. The control plane.
  let admission: string | undefined;
  try {
    const { admissionConfig } = await import("../check/admission.ts");
    admission = (await admissionConfig(runner, repoRoot, config.cacheDir)).admissionConfigYaml;
  } catch (err) {
    if (!(err instanceof HomelabError)) throw err;
    changes.push({ what: "no Pod Security admission configuration", why: err.message.split("\n")[0] });
  }
  changes.push({
    what: "admission webhooks are not called (kube-apiserver's webhook admission plugins are off)",
    why:
      "their servers are pods, which do not run here; every other admission, Pod Security included, is the cluster's",
  });
  const nodes = await nodesOf(repoRoot, options.env);
  const cp: ControlPlane = await ui.progress(
    `starting the local control plane (${nodes.length} kwok node(s), ${stageFiles.length} Stage file(s))`,
    () =>
      startControlPlane(runner, {
        controllers: true,
        nodes,
        stages: stageFiles,
        crds: [...runtime, ...precreated, ...ahead],
        admission,
        webhooks: false,
        apiServerMemoryMiB: API_SERVER_MEMORY_MIB,
        timeout: 120_000,
      }),
  );
  phase("controlPlane");
  // What Argo CD's sync does to the CRDs created as it would apply them: nothing, when its apply
  // is the rendering's.
  const asArgoNames = [...precreated, ...ahead].filter((c) => c.fieldManager === ARGOCD_MANAGER)
    .map((c) => c.crd.metadata.name!);
  const crdVersions = async () => {
    const r = await cp.client.must<{ items: KubeObject[] }>(
      "GET",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    );
    return new Map(r.body.items.map((c) => [c.metadata.name!, c.metadata.resourceVersion]));
  };
  const crdsBefore = await crdVersions();
  // Scope of each kind: the rendering's CRDs, else the API server's discovery.
  const scopes = new Map<string, boolean>();
  for (const crd of treeCrds) {
    const spec = (crd as { spec?: { group?: string; scope?: string; names?: { kind?: string } } }).spec;
    if (spec?.group && spec.names?.kind) scopes.set(`${spec.group}|${spec.names.kind}`, spec.scope === "Namespaced");
  }
  for (const o of objects) {
    const k = `${groupOf(o.apiVersion)}|${o.kind}`;
    if (scopes.has(k)) continue;
    const r = await cp.client.resourceOf(o.apiVersion, o.kind).catch(() => undefined);
    if (r) scopes.set(k, r.namespaced);
  }
  const waveOrder = checkWaveOrder(rendering, (apiVersion, kind) => scopes.get(`${groupOf(apiVersion)}|${kind}`))
    .map((f) => ({
      app: f.app,
      object: f.object ? `${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ""}${f.object.name}` : "",
      message: f.message,
    }));
  const stopAll: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stopAll.reverse()) await s().catch(() => {});
    await cp.stop();
  };
  const cancel = onExit(stop);
  try {
    // 3. The snapshot, served.
    const work = join(cp.dir, "rehearsal");
    await Deno.mkdir(work, { mode: 0o700 });
    const snapshot = await ui.progress(
      "snapshotting the working copy",
      () => prepareSnapshot(runner, config, options.env, appSpecs(rendering.root), work),
    );
    const { daemon, url } = await serveSnapshot(runner, snapshot, freePort(), join(cp.dir, "logs", "git-daemon.log"));
    stopAll.push(() => daemon.stop().then(() => {}));
    phase("snapshot");

    // 4. Argo CD with the cluster's settings.
    const argoRendered = rendering.apps.find((a) => a.app.name === "argocd");
    const argoObjects = argoRendered?.objects ?? [];
    // Objects without a namespace land in the Application's destination namespace, argocd.
    const settings = argoObjects.filter((o) =>
      (o.kind === "ConfigMap" || o.kind === "Secret") && /^argocd-/.test(o.metadata.name ?? "") &&
      (o.metadata.namespace ?? argoRendered?.app.namespace ?? "argocd") === "argocd"
    );
    if (!argoRendered || argoRendered.error || !settings.some((o) => o.metadata.name === "argocd-cm")) {
      changes.push({
        what: "Argo CD's settings are its defaults",
        why: !argoRendered
          ? "no argocd Application"
          : argoRendered.error
          ? `the argocd Application did not render: ${argoRendered.error}`
          : "the argocd Application renders no argocd-cm in the argocd namespace",
      });
    }
    const workload = (name: string) =>
      argoObjects.find((o) => (o.kind === "Deployment" || o.kind === "StatefulSet") && o.metadata.name === name);
    const reconciliation = options.reconciliation ?? 10;
    const controllerEnv = workloadEnv(workload("argocd-application-controller"), settings);
    const repoEnv = workloadEnv(workload("argocd-repo-server"), settings);
    changes.push({
      what: `reconciliation every ${reconciliation}s without jitter (the cluster: ${
        controllerEnv.ARGOCD_RECONCILIATION_TIMEOUT ?? "Argo CD's default, 120s"
      })`,
      why: "the rehearsal's pace is set by comparisons, not work",
    });
    // Between the waves of one sync Argo CD sleeps ARGOCD_SYNC_WAVE_DELAY seconds (2 by default) so
    // that controllers can react before it judges health. Here the simulated controllers react at
    // once, and every waiting Application sleeps it in each of its waves.
    const clusterWaveDelay = controllerEnv.ARGOCD_SYNC_WAVE_DELAY;
    controllerEnv.ARGOCD_SYNC_WAVE_DELAY = String(SYNC_WAVE_DELAY);
    changes.push({
      what: `${SYNC_WAVE_DELAY}s between the waves of a sync (ARGOCD_SYNC_WAVE_DELAY; the cluster: ${
        clusterWaveDelay !== undefined ? `${clusterWaveDelay}s` : "Argo CD's default, 2s"
      })`,
      why: "the simulated controllers set status as objects are written; the delay is for controllers that take time",
    });
    changes.push({
      what: "each resource's health is kept in its Application's status (--persist-resource-health)",
      why: "so this report can name the resource that is not Healthy; Argo CD judges health the same either way",
    });
    for (const drop of ["XDG_CONFIG_HOME", "SOPS_AGE_KEY_FILE"]) {
      if (repoEnv[drop] === undefined) continue;
      changes.push({
        what: `repo-server: ${drop} (${repoEnv[drop]}) not set`,
        why: "ksops is the rehearsal's stand-in: Secrets carry digests or placeholders, never plaintext",
      });
      delete repoEnv[drop];
    }
    const toolDirs = await Promise.all(["kustomize", "helm", "git"].map(async (t) => dirname(await runner.resolve(t))));
    const argo = await ui.progress(
      "starting Argo CD (redis, repo-server, application-controller)",
      () =>
        startArgoCD(runner, cp, {
          reconciliation,
          settings,
          env: { controller: controllerEnv, repoServer: repoEnv },
          path: [snapshot.bin, ...new Set(toolDirs)],
          timeout: 60_000,
          // DEBUG=1: what the controller does, in argocd/logs/ of the control plane's folder (see --keep).
          logLevel: config.verbose ? "info" : "warn",
        }),
    );
    stopAll.push(() => argo.stop());
    phase("argocd");

    // 5. The root app (or the named Applications), followed.
    const rootApp = JSON.parse(
      await runner.output(
        cmd("jsonnet", [
          "--tla-str",
          `env=${options.env}`,
          "--tla-str",
          `repoURL=${url}`,
          "--tla-str",
          `revision=${SERVED_BRANCH}`,
          "root.jsonnet",
        ], { cwd: join(repoRoot, "root"), readOnly: true }),
      ),
    ) as KubeObject;
    const wanted = options.apps?.length
      ? rendering.root.filter((o) =>
        o.kind === "AppProject" || (o.kind === "Application" && options.apps!.includes(o.metadata.name!))
      ).map((o) => retarget(o, url))
      : [rootApp];
    const expected = new Map<string, number>();
    if (!options.apps?.length) expected.set("root", -Infinity);
    for (const s of specs) expected.set(s.name, waveOfApp(s.application));
    const client = cp.client;
    client.forgetDiscovery();
    for (const o of wanted) {
      const r = await client.apply(o, { fieldManager: "homelab-rehearse" });
      if (r.status >= 300) {
        throw new HomelabError(`${o.kind} ${o.metadata.name} was refused: ${JSON.stringify(r.body)}`);
      }
    }
    const follower = new Follower(client, argo.namespace, expected);
    const start = performance.now();
    const deadline = start + options.timeoutMs;
    let last = { done: false, summary: "", changes: [] as readonly string[] };
    let settled = false;
    await ui.progress(
      `waiting for ${expected.size} Application(s) to be Synced and Healthy`,
      async () => {
        while (performance.now() < deadline) {
          last = await follower.observe();
          for (const line of last.changes) ui.info(`  ${line}`);
          if (last.done) return;
          if (options.settled?.(follower.outcomes())) {
            settled = true;
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      },
      15,
      () => last.summary,
    );
    const convergedMs = last.done ? performance.now() - start : undefined;

    // 6. A hard refresh: still Synced and Healthy?
    let stayed: boolean | undefined;
    if (last.done) {
      await follower.hardRefresh();
      const refreshDeadline = performance.now() + Math.max(60_000, reconciliation * 3000);
      let taken = false;
      await ui.progress("hard refresh of every Application", async () => {
        while (performance.now() < refreshDeadline) {
          if (await follower.refreshed()) {
            taken = true;
            return;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      });
      const after = await follower.observe();
      for (const line of after.changes) ui.info(`  ${line}`);
      stayed = taken && after.done;
      if (!taken) {
        changes.push({ what: "the hard refresh was not taken by every Application in time", why: "see the report" });
      }
    }

    const crdsAfter = await crdVersions();
    const crdsChanged = asArgoNames.filter((n) => crdsAfter.get(n) !== crdsBefore.get(n));
    const cluster = releaseOf(await pinnedArgoCdChart(repoRoot).catch(() => undefined) ?? "")?.argocd;
    const result: Rehearsal = {
      env: options.env,
      argocd: { rehearsal: toolSpec("argocd")?.version ?? "unknown", cluster },
      ok: last.done && stayed === true && waveOrder.length === 0,
      converged: last.done,
      stayed,
      convergedMs,
      apps: follower.outcomes(),
      waves: follower.waves(),
      changes,
      unsimulated: notSimulated,
      locked: snapshot.locked,
      missing: snapshot.missing,
      renderErrors,
      waveOrder,
      crdsChanged,
      ...(settled ? { settled: true as const } : {}),
      phases,
    };
    await options.beforeStop?.(result, cp.kubeconfig);
    return result;
  } finally {
    await cancel();
  }
}

/** An Application of the root app, pointed at the served snapshot. */
function retarget(o: KubeObject, url: string): KubeObject {
  if (o.kind !== "Application") return o;
  const spec = (o as unknown as { spec: { source: Record<string, unknown> } }).spec;
  return {
    ...o,
    spec: { ...spec, source: { ...spec.source, repoURL: url, targetRevision: SERVED_BRANCH } },
  } as KubeObject;
}

function waveOfApp(o: KubeObject): number {
  const w = Number(o.metadata.annotations?.["argocd.argoproj.io/sync-wave"] ?? 0);
  return Number.isFinite(w) ? w : 0;
}

/** The report as text: versions, changes, timeline by wave, and every Application not converged. */
export function textReport(r: Rehearsal): string {
  const lines: string[] = [];
  lines.push(
    `rehearse (${r.env}): Argo CD v${r.argocd.rehearsal} (the cluster runs ${
      r.argocd.cluster ? `v${r.argocd.cluster}` : "an Argo CD release this repository has no row for"
    })`,
  );
  for (const c of r.changes) lines.push(`  differs from the cluster: ${c.what} (${c.why})`);
  for (const e of r.renderErrors) lines.push(`  not rendered: ${e.app}: ${e.error.split("\n")[0]}`);
  for (const m of r.missing) lines.push(`  not at hand: ${m.app}: ${m.what.split("\n")[0]}`);
  for (const w of r.waveOrder) lines.push(`  wave inversion: ${w.app}: ${w.object}: ${w.message}`);
  for (const l of r.locked) lines.push(`  cannot be decrypted in the cluster: ${l.app}: ${l.file}: ${l.why}`);
  if (r.crdsChanged.length) {
    lines.push(
      `  changed by Argo CD's sync: ${r.crdsChanged.length} CRD(s) created before it started as its apply of the ` +
        `rendering would write them (so it applied something else; run render to compare): ${r.crdsChanged.join(", ")}`,
    );
  }
  for (const k of r.unsimulated) {
    lines.push(`  not simulated: ${k} (Argo CD judges its health; add a Stage under rehearse/stages/)`);
  }
  lines.push("waves:");
  for (const w of r.waves) {
    lines.push(
      `  ${String(w.wave).padStart(4)}  ${w.doneMs !== undefined ? clock(w.doneMs).padEnd(7) : "—      "} ${
        w.apps.join(", ")
      }`,
    );
  }
  lines.push("applications:");
  for (const a of r.apps) {
    const t = a.convergedMs !== undefined ? `converged ${clock(a.convergedMs)}` : "did not converge";
    lines.push(`  ${a.name.padEnd(20)} ${`${a.sync}/${a.health}`.padEnd(24)} ${t}`);
    if (a.convergedMs !== undefined && a.sync === "Synced" && a.health === "Healthy") continue;
    for (const l of holdUps(a)) lines.push(`      ${l}`);
  }
  if (r.waveOrder.length) {
    lines.push(
      `error: ${r.waveOrder.length} wave inversion(s): the cluster's root app would stall where they are (see above)`,
    );
  } else if (r.ok) {
    lines.push(
      `ok: every Application Synced and Healthy in ${clock(r.convergedMs!).slice(1)}, and still after a hard refresh`,
    );
  } else if (r.converged) {
    lines.push(
      "error: every Application converged, but after a hard refresh some are not Synced and Healthy (a diff Argo CD " +
        "never clears, or health that does not hold); see above",
    );
  } else {
    lines.push(
      r.settled
        ? "error: not every Application became Synced and Healthy; the wait ended once the states asked for were seen; see above"
        : "error: not every Application became Synced and Healthy before the deadline; see above",
    );
  }
  return lines.join("\n");
}

/** The report as JSON, for scripts. */
export function jsonReport(r: Rehearsal): string {
  return JSON.stringify(
    { ...r, apps: r.apps.map((a) => ({ ...a, wave: Number.isFinite(a.wave) ? a.wave : null })) },
    null,
    2,
  );
}
