/**
 * Fixture repositories for the rehearsal's test (tests/rehearse_test.ts): the repository's own root app
 * (root/root.jsonnet, root/main.jsonnet) over a components.json of a few small components, its
 * rehearse/ Stages and health list, Argo CD's settings from a fixture `argo-cd` chart with the real
 * values' `configs.cm`, and small fixture charts imported into a private chart cache (CI has no real
 * charts). Secrets are made by an owner with the real sops and age (`deno task secrets init`).
 * @module
 */

import { dirname, join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { cmd, type Runner, secret } from "../lib/cmd.ts";
import { type Config, loadConfig } from "../lib/config.ts";
import { pinnedArgoCdChart } from "../lib/render/argocd.ts";
import { ChartCache } from "../lib/render/charts.ts";
import { Toolbox } from "../lib/toolbox.ts";
import { binariesOf, TOOLS } from "../lib/tools.ts";
import { sopsOf } from "../lib/secrets/context.ts";
import { init } from "../lib/secrets/lifecycle.ts";
import { readSopsConfig } from "../lib/secrets/sopsconfig.ts";
import { git, REPO } from "./helpers.ts";
import { toolRunner } from "./kube_helpers.ts";
import { encryptedFor, owner } from "./secrets_helpers.ts";

/** The web component's password (test data): encrypted in the fixture, never in the cluster. */
export const WEB_PASSWORD = "rehearsal-password-V8k3q";
/** The locked component's password (test data), encrypted for the owner only. */
export const LOCKED_PASSWORD = "rehearsal-locked-J2m7w";

/** One component: its entry in components.json and its files (relative to `STACK/NAME`). */
interface Component {
  readonly name: string;
  readonly wave: number;
  readonly files: Record<string, string>;
  /** Extra fields of its components.json entry. */
  readonly entry?: Record<string, unknown>;
}

const namespace = (name: string) =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels:\n` +
  `    pod-security.kubernetes.io/enforce: restricted\n`;

const kustomization = (ns: string, body: string) =>
  `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${ns}\n${body}`;

/** A container spec Pod Security `restricted` admits. */
const RESTRICTED = `securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  allowPrivilegeEscalation: false
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault`;

const indent = (text: string, n: number) => text.split("\n").map((l) => " ".repeat(n) + l).join("\n");

/** A Deployment of one pod (kwok makes it Ready), mounting `claim` when given. */
function deployment(name: string, claim?: string): string {
  const volume = claim
    ? `          volumeMounts:\n            - name: data\n              mountPath: /data\n` +
      `      volumes:\n        - name: data\n          persistentVolumeClaim:\n            claimName: ${claim}\n`
    : "";
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  # Progressing (not Degraded) for as long as any rehearsal of the test lasts.
  progressDeadlineSeconds: 3600
  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: ${name}
          image: registry.example.invalid/${name}:1.0.0
${indent(RESTRICTED, 10)}
${volume}`;
}

/** The Argo CD component: the fixture `argo-cd` chart (the pinned version) with the real `configs.cm`. */
async function argocdComponent(version: string): Promise<Component> {
  const real = parseYaml(await Deno.readTextFile(join(REPO, "system", "argocd", "values.yaml"))) as {
    configs: { cm: Record<string, string> };
  };
  return {
    name: "argocd",
    wave: -10,
    entry: { serverSideApply: true },
    files: {
      "namespace.yaml": namespace("argocd"),
      "kustomization.yaml": kustomization(
        "argocd",
        `resources:\n  - namespace.yaml\nhelmCharts:\n  - name: argo-cd\n    repo: https://argoproj.github.io/argo-helm\n` +
          `    version: ${version}\n    releaseName: argocd\n    namespace: argocd\n    valuesFile: values.yaml\n`,
      ),
      "values.yaml": stringify({ configs: { cm: real.configs.cm } }),
    },
  };
}

/** The small charts of the private chart cache: `argo-cd` (argocd-cm from `configs.cm`) and `web` (a ConfigMap). */
async function makeCharts(runner: Runner, work: string, argoVersion: string): Promise<string[]> {
  const charts: [string, string, Record<string, string>][] = [
    ["argo-cd", argoVersion, {
      "values.yaml": "configs:\n  cm: {}\n",
      "templates/argocd-cm.yaml":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: {{ .Release.Namespace }}\n  labels:\n" +
        "    app.kubernetes.io/part-of: argocd\ndata:\n{{- toYaml .Values.configs.cm | nindent 2 }}\n",
    }],
    ["web", "0.1.0", {
      "values.yaml": "greeting: hello\n",
      "templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n" +
        "data:\n  greeting: {{ .Values.greeting | quote }}\n",
    }],
  ];
  const out: string[] = [];
  for (const [name, version, files] of charts) {
    const src = join(work, "chart-src", name);
    await Deno.mkdir(join(src, "templates"), { recursive: true });
    await Deno.writeTextFile(
      join(src, "Chart.yaml"),
      `apiVersion: v2\nname: ${name}\nversion: ${version}\nappVersion: "${version}"\n`,
    );
    for (const [f, text] of Object.entries(files)) await Deno.writeTextFile(join(src, f), text);
    await runner.run(cmd("helm", ["package", src, "-d", join(work, "packages")]));
    out.push(join(work, "packages", `${name}-${version}.tgz`));
  }
  return out;
}

/** A fixture repository, its owner's configuration and the rehearsal's. */
export interface RehearsalFixture {
  readonly root: string;
  /** For `rehearse()`: the fixture as repoRoot, the owner's key, a private cache (the pinned tools stay). */
  readonly config: Config;
}

/** The components both fixtures share: Argo CD (wave -10). */
async function writeRepo(
  dir: string,
  components: (ctx: { recipientOf: (who: "personal" | "argocd") => Promise<string> }) => Promise<Component[]>,
  after: (root: string, sops: ReturnType<typeof sopsOf>, personal: string) => Promise<void>,
  extraStages: string[] = [],
): Promise<RehearsalFixture> {
  const root = join(dir, "repo");
  await Deno.mkdir(root, { recursive: true });
  // The real Talos configuration (its admission configuration is the control plane's); not its secrets.
  const talos = [
    "talconfig.yaml",
    "talenv.yaml",
    ...(await Array.fromAsync(Deno.readDir(join(REPO, "talos", "patches"))))
      .map((e) => `patches/${e.name}`),
  ].map((f) => `talos/${f}`);
  for (const f of [".sops.yaml", "root/root.jsonnet", "root/main.jsonnet", ...talos]) {
    await Deno.mkdir(dirname(join(root, f)), { recursive: true });
    await Deno.copyFile(join(REPO, f), join(root, f));
  }
  await Deno.mkdir(join(root, "rehearse", "stages"), { recursive: true });
  await Deno.copyFile(join(REPO, "rehearse", "argocd-health.yaml"), join(root, "rehearse", "argocd-health.yaml"));
  for await (const e of Deno.readDir(join(REPO, "rehearse", "stages"))) {
    if (e.name.endsWith(".yaml")) {
      await Deno.copyFile(join(REPO, "rehearse", "stages", e.name), join(root, "rehearse", "stages", e.name));
    }
  }
  for (const s of extraStages) {
    await Deno.copyFile(s, join(root, "rehearse", "stages", `fixture-${s.split("/").pop()}`));
  }
  git(root, "init", "-q");

  const alice = await owner(dir, "alice", root);
  await init(alice.ctx);
  const sopsConfig = await readSopsConfig(root);
  const list = await components({
    recipientOf: (who) => Promise.resolve(sopsConfig[who]!),
  });
  const entries: Record<string, unknown[]> = { system: [], platform: [], apps: [] };
  for (const c of list) {
    entries.system.push({ name: c.name, namespace: c.name, wave: c.wave, purpose: `fixture ${c.name}`, ...c.entry });
    for (const [f, text] of Object.entries(c.files)) {
      await Deno.mkdir(dirname(join(root, "system", c.name, f)), { recursive: true });
      await Deno.writeTextFile(join(root, "system", c.name, f), text);
    }
  }
  await Deno.writeTextFile(join(root, "root", "components.json"), JSON.stringify(entries, null, 2) + "\n");
  await after(root, sopsOf(alice.ctx), sopsConfig.personal!);
  git(root, "add", "-A");
  git(root, "commit", "-q", "--no-verify", "-m", "fixture");

  // The rehearsal's configuration: the owner's key, a private cache holding the fixture charts.
  const real = loadConfig();
  // The pinned tools on PATH: the cache's builds of this repository's own modules are named after
  // their sources (lib/toolbox.ts cacheDirOf), which the fixture does not hold.
  const toolbox = new Toolbox(real);
  const dirs = new Set<string>();
  for (const spec of TOOLS) {
    for (const b of binariesOf(spec)) {
      const found = await toolbox.resolve(b).catch(() => undefined);
      if (found) dirs.add(dirname(found));
    }
  }
  const env = {
    ...real.env,
    PATH: [...dirs, real.env.PATH ?? ""].join(":"),
    HOME: join(dir, "alice"),
    XDG_CACHE_HOME: join(dir, "cache"),
    XDG_CONFIG_HOME: join(dir, "alice", ".config"),
    SOPS_AGE_KEY_FILE: alice.keyFile,
  };
  delete (env as Record<string, string>).SOPS_AGE_KEY;
  const config: Config = { ...loadConfig(env), repoRoot: root, toolsDir: real.toolsDir };
  const runner = toolRunner();
  const version = (await pinnedArgoCdChart(REPO))!;
  const cache = new ChartCache(join(config.cacheDir, "charts"), runner, {
    scratch: () => Deno.makeTempDir({ dir }),
  });
  for (const tgz of await makeCharts(runner, dir, version)) await cache.import(tgz);
  return { root, config };
}

const generator = (file: string) =>
  `apiVersion: viaduct.ai/v1\nkind: ksops\nmetadata:\n  name: secret-generator\n  annotations:\n` +
  `    config.kubernetes.io/function: |\n      exec:\n        path: ksops\nfiles:\n  - ./${file}\n`;

const secretYaml = (name: string, password: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\ntype: Opaque\nstringData:\n  username: admin\n` +
  `  password: ${password}\n`;

/** A CRD of the converging fixture (no object of its kind: only the CRD is applied). */
export const GADGET_CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.fixture.example
spec:
  group: fixture.example
  scope: Namespaced
  names: { kind: Gadget, plural: gadgets, singular: gadget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer }
`;

/**
 * The converging fixture: argocd (wave -10), echo (wave -5, applied server-side: a Deployment and a CRD), web (wave 0: the `web`
 * chart and a KSOPS Secret encrypted for the owner and Argo CD).
 */
export async function convergingFixture(dir: string): Promise<RehearsalFixture> {
  const version = (await pinnedArgoCdChart(REPO))!;
  return await writeRepo(
    dir,
    async () => [
      await argocdComponent(version),
      {
        name: "echo",
        wave: -5,
        // Applied server-side: its CRD exists before Argo CD starts, as Argo CD's apply writes it.
        entry: { serverSideApply: true },
        files: {
          "namespace.yaml": namespace("echo"),
          "deployment.yaml": deployment("echo"),
          "crd.yaml": GADGET_CRD,
          "kustomization.yaml": kustomization(
            "echo",
            "resources:\n  - namespace.yaml\n  - deployment.yaml\n  - crd.yaml\n",
          ),
        },
      },
      {
        name: "web",
        wave: 0,
        files: {
          "namespace.yaml": namespace("web"),
          "secret-generator.yaml": generator("web-credentials.sops.yaml"),
          "kustomization.yaml": kustomization(
            "web",
            "resources:\n  - namespace.yaml\ngenerators:\n  - secret-generator.yaml\nhelmCharts:\n  - name: web\n" +
              "    repo: https://charts.example.invalid\n    version: 0.1.0\n    releaseName: web\n    namespace: web\n",
          ),
        },
      },
    ],
    async (_root, sops) => {
      await sops.encryptTo("system/web/web-credentials.sops.yaml", secret(secretYaml("web-credentials", WEB_PASSWORD)));
    },
  );
}

/** Which Application of the failing fixture shows which failure. */
export const FAILING = {
  /** Wave 0: a Deployment (its wave 0) whose pod mounts a claim of its wave 1. */
  inverted: "inverted",
  /** Wave 0: an object whose field the API server drops: Argo CD finds it OutOfSync after every sync. */
  drift: "drift",
  /** Wave 0: a PreSync hook Job whose pod fails. */
  hook: "hook",
  /** Wave 0: a KSOPS file encrypted for the owner only. */
  locked: "locked",
} as const;

/** The failing fixture: argocd (wave -10) converges; the Applications of {@link FAILING} each fail their own way. */
export async function failingFixture(dir: string, runner: Runner): Promise<RehearsalFixture> {
  const version = (await pinnedArgoCdChart(REPO))!;
  // kwok's own Stage that fails the container of a pod labelled for it (a command that exits 1).
  const kwok = dirname(await Deno.realPath(await runner.resolve("kwok")));
  const failing = join(kwok, "stages", "pod", "chaos", "pod-container-running-failed.yaml");
  return await writeRepo(
    dir,
    async () => [
      await argocdComponent(version),
      {
        name: FAILING.inverted,
        wave: 0,
        files: {
          "namespace.yaml": namespace(FAILING.inverted),
          "deployment.yaml": deployment("app", "data"),
          // The claim its pod mounts comes in a later wave: Argo CD waits for the Deployment first.
          "pvc.yaml": "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations:\n" +
            '    argocd.argoproj.io/sync-wave: "1"\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n' +
            "    requests:\n      storage: 1Gi\n",
          "kustomization.yaml": kustomization(
            FAILING.inverted,
            "resources:\n  - namespace.yaml\n  - deployment.yaml\n  - pvc.yaml\n",
          ),
        },
      },
      {
        name: FAILING.drift,
        wave: 0,
        files: {
          "namespace.yaml": namespace(FAILING.drift),
          "crd.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.fixture.example
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
spec:
  group: fixture.example
  scope: Namespaced
  names: { kind: Widget, plural: widgets, singular: widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer }
`,
          // colour is not in the CRD's schema: the API server prunes it (Validate=false: no refusal).
          "widget.yaml": `apiVersion: fixture.example/v1
kind: Widget
metadata:
  name: gadget
  annotations:
    argocd.argoproj.io/sync-options: Validate=false,SkipDryRunOnMissingResource=true
spec:
  size: 1
  colour: blue
`,
          "kustomization.yaml": kustomization(
            FAILING.drift,
            "resources:\n  - namespace.yaml\n  - crd.yaml\n  - widget.yaml\n",
          ),
        },
      },
      {
        name: FAILING.hook,
        wave: 0,
        files: {
          "namespace.yaml": namespace(FAILING.hook),
          "configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fixture\n",
          "job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        pod-container-running-failed.stage.kwok.x-k8s.io: "true"
      annotations:
        pod-container-running-failed.stage.kwok.x-k8s.io/message: schema migration failed
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example.invalid/migrate:1.0.0
${indent(RESTRICTED, 10)}
`,
          "kustomization.yaml": kustomization(
            FAILING.hook,
            "resources:\n  - namespace.yaml\n  - configmap.yaml\n  - job.yaml\n",
          ),
        },
      },
      {
        name: FAILING.locked,
        wave: 0,
        files: {
          "namespace.yaml": namespace(FAILING.locked),
          "secret-generator.yaml": generator("db.sops.yaml"),
          "kustomization.yaml": kustomization(
            FAILING.locked,
            "resources:\n  - namespace.yaml\ngenerators:\n  - secret-generator.yaml\n",
          ),
        },
      },
    ],
    async (root, _sops, personal) => {
      // Encrypted for the owner only, as before `.sops.yaml` named Argo CD's key.
      await Deno.writeTextFile(
        join(root, "system", FAILING.locked, "db.sops.yaml"),
        await encryptedFor(personal, "system/locked/db.sops.yaml", secretYaml("db", LOCKED_PASSWORD)),
      );
    },
    [failing],
  );
}
