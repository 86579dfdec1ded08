/**
 * `dev` against the real local control plane standing in for the kind cluster, with fake kind
 * and docker on PATH; and the `--dry-run` plans of bootstrap and dev as golden files
 * (`UPDATE_GOLDEN=1 deno test -A tests/dev_test.ts` rewrites them).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { Runner } from "../lib/cmd.ts";
import { loadConfig } from "../lib/config.ts";
import { HomelabError } from "../lib/errors.ts";
import { runBootstrap } from "../lib/bootstrap/bootstrap.ts";
import { DEV_NAME, type DevDeps, devDown, devStatus, drbd9, kubernetesNote, runDev } from "../lib/bootstrap/dev.ts";
import { PINS } from "../lib/tools.ts";
import type { SecretsContext } from "../lib/secrets/context.ts";
import { consoleUi } from "../lib/ui.ts";
import {
  bootstrapScene,
  bootstrapTimeouts,
  filesContaining,
  fixtureRendering,
  playArgoCd,
} from "./bootstrap_helpers.ts";
import { eventually, fakeTool, patience, REPO, withTempDir } from "./helpers.ts";
import { sitePlaceholders } from "./site_values.ts";
import { withControlPlane } from "./kube_helpers.ts";
import { encryptedFor, git, newKey, owner, realToolsPath, scratchRepo, sopsWithKey } from "./secrets_helpers.ts";
import { init } from "../lib/secrets/lifecycle.ts";
import { sopsOf } from "../lib/secrets/context.ts";
import { cmd, secret } from "../lib/cmd.ts";
import { freePort } from "../lib/kube/controlplane.ts";

const GOLDEN = join(REPO, "tests", "golden");
/** The value of the stack secret (test data). */
const TOKEN = "dev-local-token-4Kq9";

async function devScene(dir: string, kubeconfig: string) {
  const root = await scratchRepo(dir);
  await new Deno.Command("cp", { args: ["-R", `${join(REPO, "root")}/.`, join(root, "root")] }).output();
  await Deno.mkdir(join(root, "dev"), { recursive: true });
  await Deno.copyFile(join(REPO, "dev", "kind.yaml"), join(root, "dev", "kind.yaml"));
  await Deno.copyFile(join(REPO, "talos", "talconfig.yaml"), join(root, "talos", "talconfig.yaml"));
  await Deno.copyFile(join(REPO, ".gitignore"), join(root, ".gitignore"));
  // The owner: her key, Argo CD's key, and a stack secret encrypted for both.
  const owner_ = await owner(dir, "home", root);
  await init(owner_.ctx);
  await sopsOf(owner_.ctx).encryptTo(
    "system/demo/token.sops.yaml",
    secret(`apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\nstringData:\n  token: ${TOKEN}\n`),
  );
  // And one only somebody else's key opens.
  const foreign = await newKey();
  await Deno.writeTextFile(
    join(root, "system/demo/foreign.sops.yaml"),
    await encryptedFor(
      foreign.recipient,
      "foreign.sops.yaml",
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: foreign\nstringData:\n  password: ${TOKEN}-foreign\n`,
    ),
  );
  git(root, "add", "-A");
  git(root, "commit", "--no-verify", "-qm", "dev");
  const fake = join(dir, "fake");
  await Deno.mkdir(fake, { recursive: true });
  // The cluster kind would make: the control plane, under kind's context name.
  const kc = parse(await Deno.readTextFile(kubeconfig));
  kc.contexts[0].name = `kind-${DEV_NAME}`;
  kc["current-context"] = `kind-${DEV_NAME}`;
  await Deno.writeTextFile(join(fake, "kubeconfig"), JSON.stringify(kc));
  await Deno.writeTextFile(join(fake, "clusters"), "other-team\n");
  await Deno.writeTextFile(join(fake, "engine"), "stopped");
  const bin = join(dir, "bin");
  for (const t of ["kind", "docker"]) {
    await Deno.mkdir(bin, { recursive: true });
    await Deno.symlink(join(REPO, "tests", "fakes", t), join(bin, t));
  }
  const real = await realToolsPath(["age-keygen", "git", "jsonnet", "kubectl", "kustomize", "helm", "sops", "age"]);
  const kubectl = await new Runner({ env: { PATH: real } }).resolve("kubectl");
  await fakeTool(bin, "kubectl", `echo "$*" >>"$FAKE_KIND/kubectl.log"\nexec ${kubectl} "$@"`);
  const env = { HOME: join(dir, "home"), PATH: `${bin}:${real}`, FAKE_KIND: fake, FAKE_DOCKER: fake };
  const lines: string[] = [];
  const runner = new Runner({ env, defaultTimeout: patience(60_000) });
  const ctx: SecretsContext = {
    root,
    config: { ...loadConfig(env), repoRoot: root },
    runner,
    ui: consoleUi({ write: (t) => lines.push(...t.split("\n").filter(Boolean)) }),
  };
  const rendering = await fixtureRendering(runner, root, "dev");
  const deps: DevDeps = {
    ctx,
    render: () => Promise.resolve(rendering),
    drbdFile: join(dir, "no-drbd"),
    timeouts: bootstrapTimeouts(),
  };
  const read = async (f: string) =>
    (await Deno.readTextFile(join(fake, f)).catch(() => "")).split("\n").filter(Boolean);
  return { root, fake, deps, rendering, lines, kindCalls: () => read("calls.log"), clusters: () => read("clusters") };
}

Deno.test("drbd9: DRBD 9 and later count; DRBD 8, a file without a version and no file do not", async () => {
  await withTempDir(async (dir) => {
    const at = async (name: string, text: string) => {
      await Deno.writeTextFile(join(dir, name), text);
      return drbd9(join(dir, name));
    };
    assert.deepEqual(await at("9", "version: 9.2.12 (api:2/proto:86-122)\n"), { ok: true, detail: "DRBD 9.2" });
    assert.deepEqual(await at("10", "version: 10.0.1 (api:3/proto:86-130)\n"), { ok: true, detail: "DRBD 10.0" });
    assert.equal((await at("8", "version: 8.4.11 (api:1/proto:86-101)\n")).ok, false);
    assert.equal((await at("8-9", "version: 8.4.11 (api:1/proto:86-101)\nGIT-hash: 9.2\n")).ok, false);
    assert.match((await at("none", "GIT-hash: 0123\n")).detail, /names no version/);
    assert.match(drbd9(join(dir, "absent")).detail, /does not exist/);
  });
});

Deno.test("dev: a clear error without a container engine; the same steps on the kind cluster; Piraeus left out; down deletes only it", async (t) => {
  await withControlPlane({ controllers: true, nodes: ["dev-control-plane", "dev-worker"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const s = await devScene(dir, cp.kubeconfig);

      await t.step("engine not running: a clear error naming docker info, and no cluster created", async () => {
        const err = await runDev(s.deps, {}).then(() => undefined, (e) => e);
        assert.ok(err instanceof HomelabError, String(err));
        assert.match(
          err.message,
          /no running container engine: `docker info` failed: Cannot connect to the Docker daemon/,
        );
        assert.match(err.hint ?? "", /start Docker/);
        assert.ok(!(await s.kindCalls()).some((c) => c.startsWith("create")));
      });

      await Deno.writeTextFile(join(s.fake, "engine"), "running");
      const argo = playArgoCd(cp.client, s.rendering);
      try {
        await t.step("a full run: kind cluster from the committed config, dev key, same cluster steps", async () => {
          const reports = await runDev(s.deps, {});
          assert.deepEqual(reports.filter((r) => r.outcome === "ran").map((r) => r.name), [
            "preflight",
            "cluster",
            "dev-key",
            "gateway-api",
            "cilium",
            "argocd-key",
            "argocd",
            "root",
            "apps",
          ]);
          const create = (await s.kindCalls()).find((c) => c.startsWith("create cluster"));
          assert.equal(
            create,
            `create cluster --name ${DEV_NAME} --config ${s.root}/dev/kind.yaml --kubeconfig ${s.root}/.kube/dev.yaml`,
          );
          const kind = parse(await Deno.readTextFile(join(REPO, "dev", "kind.yaml")));
          assert.equal(kind.networking.disableDefaultCNI, true);
          assert.equal(kind.networking.kubeProxyMode, "none");
          // The dev key is the cluster's, git-ignored, and went in on kubectl's standard input.
          const key = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(await Deno.readTextFile(join(s.root, ".dev", "age.txt")))![0];
          const secret = await cp.client.get<{ data: Record<string, string> }>({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "sops-age", namespace: "argocd" },
          });
          assert.ok(atob(secret!.data["keys.txt"]).includes(key));
          assert.equal(git(s.root, "check-ignore", ".dev/age.txt").trim(), ".dev/age.txt");
          assert.equal((await Deno.stat(join(s.root, ".dev", "age.txt"))).mode! & 0o777, 0o600);
          assert.deepEqual(await filesContaining(dir, key), [join(s.root, ".dev", "age.txt")]);
          // Argo CD follows the current branch; without an upstream the user is warned.
          const root = await cp.client.get<{ spec: { source: { targetRevision: string } } }>({
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: { name: "root", namespace: "argocd" },
          });
          assert.equal(root?.spec.source.targetRevision, "main");
          assert.ok(s.lines.some((l) => /warning: branch main has no upstream/.test(l)));
        });
      } finally {
        await argo.stop();
      }

      await t.step("DRBD absent: Piraeus is left out, saying why and how to enable it", () => {
        const note = s.lines.find((l) => l.startsWith("note: piraeus left out"));
        assert.ok(note, s.lines.join("\n"));
        assert.match(note, /no-drbd does not exist/);
        assert.match(note, /modprobe drbd/);
        assert.ok(!s.rendering.root.some((o) => o.metadata.name === "piraeus"));
        const apps = s.lines.filter((l) => /Application \S+: /.test(l)).map((l) => /Application (\S+):/.exec(l)![1]);
        assert.ok(apps.includes("cert-manager") && !apps.includes("piraeus"));
      });

      await t.step("dev status shows the cluster, its nodes and its Applications", async () => {
        const lines = await devStatus(s.deps.ctx);
        assert.equal(lines[0], `${DEV_NAME}: exists (kubeconfig .kube/dev.yaml)`);
        assert.equal(lines[1], "nodes: 2/2 Ready");
        assert.ok(lines.includes("app root: Synced/Healthy"), lines.join("\n"));
        assert.ok(lines.includes("app cert-manager: Synced/Healthy"));
      });

      await t.step(
        "--local: Argo CD follows the working copy, served by git daemon, secrets for the dev key only",
        async () => {
          await Deno.writeTextFile(join(s.fake, "gateway"), "127.0.0.1");
          // An uncommitted change, and the owner's state to compare with afterwards.
          await Deno.writeTextFile(join(s.root, "system", "demo", "extra.yaml"), "# not committed yet\n");
          const ownerFile = await Deno.readTextFile(join(s.root, "system/demo/token.sops.yaml"));
          const before = [
            git(s.root, "status", "--porcelain"),
            git(s.root, "rev-parse", "HEAD"),
            git(s.root, "branch"),
          ];
          const scratch = async () =>
            (await Array.fromAsync(Deno.readDir(Deno.env.get("TMPDIR") || "/tmp"))).filter((e) =>
              e.name.startsWith("homelab-local-")
            ).map((e) => e.name).sort();
          const scratchBefore = await scratch();
          const port = freePort();
          const url = `git://127.0.0.1:${port}/homelab.git`;
          let release = () => {};
          const until = new Promise<void>((r) => release = r);
          const run = runDev({ ...s.deps, local: { port, until } }, {});
          const serving = `serving this working copy at ${url} for Argo CD; Ctrl-C stops serving`;
          try {
            await eventually(() => s.lines.includes(serving), `"${serving}"`, 30_000).catch((e) => {
              throw new Error(`${e.message}:\n${s.lines.join("\n")}`);
            });
            const clone = join(dir, "clone");
            git(dir, "clone", "-q", "--branch", "dev-local", url, clone);
            assert.equal(await Deno.readTextFile(join(clone, "system/demo/extra.yaml")), "# not committed yet\n");
            const served = await Deno.readTextFile(join(clone, "system/demo/token.sops.yaml"));
            const devKey = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(await Deno.readTextFile(join(s.root, ".dev/age.txt")))![0];
            const opened = await sopsWithKey(clone, secret(devKey), "decrypt", "system/demo/token.sops.yaml");
            assert.ok(opened.ok, opened.err);
            assert.match(opened.out, new RegExp(`token: ${TOKEN}`));
            assert.equal((served.match(/recipient: age1/g) ?? []).length, 1, "the served secret has other recipients");
            assert.ok(!served.includes(TOKEN));
            // The secret no key of the owner's opens: the same Secret, placeholder values, for the dev key.
            const foreign = await sopsWithKey(clone, secret(devKey), "decrypt", "system/demo/foreign.sops.yaml");
            assert.ok(foreign.ok, foreign.err);
            assert.match(foreign.out, /name: foreign/);
            assert.match(foreign.out, /password: '<no key: not decrypted>'/);
            assert.ok(
              s.lines.some((l) => /placeholder values in dev.*system\/demo\/foreign\.sops\.yaml/.test(l)),
              s.lines.join("\n"),
            );
            const root = await cp.client.get<{ spec: { source: { repoURL: string; targetRevision: string } } }>({
              apiVersion: "argoproj.io/v1alpha1",
              kind: "Application",
              metadata: { name: "root", namespace: "argocd" },
            });
            assert.deepEqual([root?.spec.source.repoURL, root?.spec.source.targetRevision], [url, "dev-local"]);
          } finally {
            release();
            await run.catch(() => {});
          }
          // The owner's files, index and branches are as they were; the daemon stopped with the task.
          assert.equal(await Deno.readTextFile(join(s.root, "system/demo/token.sops.yaml")), ownerFile);
          assert.deepEqual(
            [git(s.root, "status", "--porcelain"), git(s.root, "rev-parse", "HEAD"), git(s.root, "branch")],
            before,
          );
          const after = await new Deno.Command("git", { args: ["ls-remote", url], stderr: "null", stdout: "null" })
            .output();
          assert.notEqual(after.code, 0, "git daemon still serves after the task ended");
          assert.deepEqual(await scratch(), scratchBefore, "a temporary index was left behind");
          await Deno.remove(join(s.root, "system", "demo", "extra.yaml"));
        },
      );

      await t.step("dev down deletes the dev cluster and no other", async () => {
        const err = await devDown(s.deps.ctx, {}).then(() => undefined, (e) => e);
        assert.ok(!(await s.kindCalls()).some((c) => c.startsWith("delete")), "deleted without asking");
        assert.ok(err instanceof HomelabError && /not confirmed/.test(err.message));
        assert.deepEqual(await s.clusters(), ["other-team", DEV_NAME]);
        assert.equal(await devDown(s.deps.ctx, { yes: true }), "deleted");
        assert.deepEqual(await s.clusters(), ["other-team"]);
        const deletes = (await s.kindCalls()).filter((c) => c.startsWith("delete"));
        assert.deepEqual(deletes, [`delete cluster --name ${DEV_NAME} --kubeconfig ${s.root}/.kube/dev.yaml`]);
        await assert.rejects(Deno.stat(join(s.root, ".kube", "dev.yaml")), Deno.errors.NotFound);
        assert.deepEqual(await devStatus(s.deps.ctx), [`${DEV_NAME}: not created (run \`deno task dev\`)`]);
        assert.equal(await devDown(s.deps.ctx, { yes: true }), "absent");
      });
    });
  });
});

/** The plan a dry run prints, with the scene's paths made stable. */
async function plan(run: (ui: (l: string) => void) => Promise<unknown>, root: string): Promise<string> {
  const lines: string[] = [];
  await run((l) => lines.push(l));
  return lines.join("\n").replaceAll(root, "$REPO") + "\n";
}

async function golden(name: string, text: string): Promise<void> {
  const file = join(GOLDEN, name);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(GOLDEN, { recursive: true });
    await Deno.writeTextFile(file, text);
  }
  assert.equal(text, await Deno.readTextFile(file), `${name} changed; UPDATE_GOLDEN=1 rewrites it`);
}

Deno.test("--dry-run: the plans of bootstrap and dev (golden files) change nothing and say what runs, in order", async () => {
  await withTempDir(async (dir) => {
    {
      // A dry run never connects: a kubeconfig naming a port nobody listens on is enough.
      const kubeconfig = join(dir, "kubeconfig");
      const server = "https://127.0.0.1:1";
      await Deno.writeTextFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server, "certificate-authority-data": "" } }],
          users: [{ name: "u", user: { token: "t" } }],
          contexts: [{ name: "local", context: { cluster: "c", user: "u" } }],
          "current-context": "local",
        }),
      );
      const cp = { kubeconfig, server };
      const scene = await bootstrapScene(join(dir, "b"), cp);
      const ui = (write: (l: string) => void) =>
        consoleUi({ write: (t) => t.split("\n").filter(Boolean).forEach(write) });
      const text = await plan(
        (w) => runBootstrap({ ...scene.deps, ctx: { ...scene.ctx, ui: ui(w) } }, { dryRun: true }),
        scene.root,
      );
      // The node addresses and cluster name come from site.yaml: placeholders keep the plan any owner's.
      await golden("bootstrap-plan.txt", sitePlaceholders(text));
      assert.deepEqual(
        (await scene.talosCalls()).filter((c) => !c.includes("version")),
        [],
        "a dry run called talosctl",
      );
      assert.deepEqual(await scene.kubectlCalls(), []);
      const at = (re: RegExp) => text.split("\n").findIndex((l) => re.test(l));
      assert.ok(at(/apply-config .*--insecure/) < at(/ bootstrap$/));
      assert.ok(at(/ bootstrap$/) < at(/talosctl .* kubeconfig /));
      assert.ok(at(/talosctl .* kubeconfig /) < at(/kubectl .* apply --server-side/));
      assert.ok(at(/sops decrypt system\/argocd\/sops-age\.sops\.yaml {2}\(into memory only\)/) > 0);
      assert.ok(at(/applications\.argoproj\.io is Established/) < at(/apply .* < \(the root Application\)/));
      assert.ok(!/AGE-SECRET-KEY/.test(text));

      const s = await devScene(join(dir, "d"), cp.kubeconfig);
      const devText = await plan(
        (w) => runDev({ ...s.deps, ctx: { ...s.deps.ctx, ui: ui(w) } }, { dryRun: true }),
        s.root,
      );
      await golden("dev-plan.txt", devText.replaceAll(join(dir, "d"), "$DIR"));
      assert.deepEqual(await s.kindCalls(), [], "a dry run called kind");
      assert.match(devText, /kind create cluster --name homelab-dev --config \$REPO\/dev\/kind\.yaml/);
      assert.match(devText, /note: piraeus left out/);
      // kind has no node image for every Kubernetes release: dev says which one it runs.
      assert.match(devText, /^note: kubernetes: dev runs v\d+\.\d+\.\d+/m);
      assert.ok(!/talosctl/.test(devText));
      assert.match(devText, /age-keygen -o \$REPO\/\.dev\/age\.txt/);
      assert.ok(!/sops decrypt/.test(devText), "dev touches the owner's keys without being asked");

      // Asked for: the production Argo CD key instead of a dev key.
      const asked = await plan(
        (w) => runDev({ ...s.deps, productionKey: true, ctx: { ...s.deps.ctx, ui: ui(w) } }, { dryRun: true }),
        s.root,
      );
      assert.ok(!/dev-key|age-keygen -o/.test(asked));
      const local = await plan(
        (w) => runDev({ ...s.deps, local: {}, ctx: { ...s.deps.ctx, ui: ui(w) } }, { dryRun: true }),
        s.root,
      );
      const names = local.split("\n").map((l) => /^ +\d+\. ([\w-]+) /.exec(l)?.[1]).filter(Boolean);
      assert.deepEqual(names.slice(3, 7), ["dev-key", "local-repo", "serve", "gateway-api"]);
      assert.match(local, /sops encrypt --age <the dev key's recipient>/);

      // A host with DRBD 9: Piraeus is included (the root app's include parameter).
      await Deno.writeTextFile(join(dir, "drbd"), "version: 9.2.12 (api:2/proto:86-122)\nGIT-hash: abc\n");
      const drbd = await plan(
        (w) => runDev({ ...s.deps, drbdFile: join(dir, "drbd"), ctx: { ...s.deps.ctx, ui: ui(w) } }, { dryRun: true }),
        s.root,
      );
      assert.match(drbd, /note: piraeus included: DRBD 9\.2 on this host/);
      assert.match(drbd, /jsonnet --tla-str env=dev .*--tla-str include=piraeus root\.jsonnet/);
      assert.doesNotMatch(devText, /include=piraeus/);
      // DRBD 8 (the in-tree module of most distributions) is not DRBD 9: Piraeus stays out.
      await Deno.writeTextFile(join(dir, "drbd8"), "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 1B3\n");
      const drbd8 = await plan(
        (w) => runDev({ ...s.deps, drbdFile: join(dir, "drbd8"), ctx: { ...s.deps.ctx, ui: ui(w) } }, { dryRun: true }),
        s.root,
      );
      assert.match(drbd8, /note: piraeus left out: DRBD 8\.4 is loaded; Piraeus needs 9/);
      assert.doesNotMatch(drbd8, /include=piraeus/);
      const appsOf = async (...tlas: string[]) =>
        (JSON.parse(
          await s.deps.ctx.runner.output(cmd("jsonnet", [...tlas.flatMap((t) => ["--tla-str", t]), "main.jsonnet"], {
            cwd: join(s.root, "root"),
          })),
        ) as { kind: string; metadata: { name: string } }[]).filter((o) => o.kind === "Application").map((o) =>
          o.metadata.name
        );
      assert.ok((await appsOf("env=dev", "include=piraeus")).includes("piraeus"));
      assert.ok(!(await appsOf("env=dev")).includes("piraeus"));
      assert.ok(!(await appsOf("env=dev", "include=piraeus")).includes("kubevirt"));
      assert.match(
        asked,
        /sops decrypt system\/argocd\/sops-age\.sops\.yaml {2}\(asked: --argocd-key; into memory only\)/,
      );
    }
  });
});

Deno.test("dev says which Kubernetes it runs: the pinned node image's, and why it is not the cluster's", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "dev"));
    await Deno.mkdir(join(dir, "talos"));
    await Deno.writeTextFile(join(dir, "talos/talconfig.yaml"), "kubernetesVersion: v1.37.2\n");
    const kind = (image: string) =>
      Deno.writeTextFile(
        join(dir, "dev/kind.yaml"),
        `nodes:\n  - role: control-plane\n    image: &n ${image}\n  - role: worker\n    image: *n\n`,
      );
    const digest = `@sha256:${"a".repeat(64)}`;
    await kind(`kindest/node:v1.37.0${digest}`);
    assert.equal(
      kubernetesNote(dir),
      `kubernetes: dev runs v1.37.0, the cluster v1.37.2: kind ${PINS.kind} publishes no node image for v1.37.2, ` +
        "so dev/kind.yaml pins the newest it publishes",
    );
    await kind(`kindest/node:v1.37.2${digest}`);
    assert.equal(kubernetesNote(dir), "kubernetes: dev runs v1.37.2, the cluster's version (talos/talconfig.yaml)");
    await Deno.writeTextFile(join(dir, "dev/kind.yaml"), "nodes:\n  - role: control-plane\n");
    assert.match(kubernetesNote(dir), /pins no single kindest\/node image, so dev runs the default of kind/);
  });
});

Deno.test("dev/kind.yaml pins one node image by digest, for the cluster's Kubernetes minor", async () => {
  const kind = await Deno.readTextFile(join(REPO, "dev/kind.yaml"));
  const images = [...kind.matchAll(/image: (?:&\S+ )?(\S+)/g)].map((m) => m[1]).filter((i) => !i.startsWith("*"));
  assert.equal(images.length, 1, "one image, shared by every node through a YAML anchor");
  const m = /^kindest\/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(images[0]);
  assert.ok(m, `dev/kind.yaml's node image ${images[0]} is not kindest/node:vX.Y.Z@sha256:<digest>`);
  const talconfig = await Deno.readTextFile(join(REPO, "talos/talconfig.yaml"));
  assert.equal(`v${m[1]}`, /^kubernetesVersion: (v\d+\.\d+)\./m.exec(talconfig)?.[1]);
});
