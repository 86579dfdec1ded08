/**
 * `bootstrap` against the real local control plane (kwok nodes run the pods), fake Talos nodes
 * behind the fake talosctl, and a test playing Argo CD by setting Application status.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { HomelabError } from "../lib/errors.ts";
import { runBootstrap } from "../lib/bootstrap/bootstrap.ts";
import type { KubeObject } from "../lib/render/model.ts";
import { bootstrapScene, filesContaining, ORDER, playArgoCd, stuckDeployment } from "./bootstrap_helpers.ts";
import { eventually, withTempDir } from "./helpers.ts";
import { withControlPlane } from "./kube_helpers.ts";

const mutating = (calls: string[]) => calls.filter((c) => /apply-config|bootstrap|kubeconfig/.test(c));

Deno.test("bootstrap: refuses a foreign kubeconfig, runs in order, skips everything the second time, waits for Argo CD's CRD", async (t) => {
  await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const scene = await bootstrapScene(dir, cp);
      const rendering = await scene.deps.render();

      await t.step("a kubeconfig pointing at another cluster is refused before any change, naming both", async () => {
        const kc = join(scene.root, ".kube", "config");
        await Deno.mkdir(join(scene.root, ".kube"), { recursive: true });
        const other = (await Deno.readTextFile(cp.kubeconfig)).replace(cp.server, "https://10.9.8.7:6443");
        await Deno.writeTextFile(kc, other);
        const err = await runBootstrap(scene.deps, { yes: true }).then(() => undefined, (e) => e);
        assert.ok(err instanceof HomelabError, String(err));
        assert.match(err.message, /refusing to change anything/);
        assert.ok(err.message.includes("https://10.9.8.7:6443"), err.message);
        assert.ok(err.message.includes(cp.server), err.message);
        assert.deepEqual(mutating(await scene.talosCalls()), [], "talosctl changed something");
        assert.deepEqual(await scene.kubectlCalls(), [], "kubectl ran");
        assert.ok(!scene.lines.some((l) => l.startsWith("[1/")), "a step ran");
        await Deno.remove(kc);
        await scene.resetCalls();
      });

      await t.step(
        "an error `check` finds in what bootstrap installs stops the preflight, before any change",
        async () => {
          const failing = {
            ...scene.deps,
            check: () =>
              Promise.resolve([{
                app: "cilium",
                check: "pod-security",
                severity: "error" as const,
                object: {
                  apiVersion: "apps/v1",
                  kind: "Deployment",
                  namespace: "kube-system",
                  name: "cilium-operator",
                },
                message: 'violates PodSecurity "restricted:latest"',
              }, { app: "argocd", check: "server", severity: "warning" as const, message: "deprecated" }]),
          };
          const err = await runBootstrap(failing, { yes: true }).then(() => undefined, (e) => e);
          assert.ok(err instanceof HomelabError, String(err));
          assert.match(err.message, /check finds 1 error\(s\) in what bootstrap installs/);
          assert.match(
            err.message,
            /cilium: pod-security Deployment\/kube-system\/cilium-operator: violates PodSecurity/,
          );
          assert.match(err.hint ?? "", /deno task check --app gateway-api cilium argocd/);
          assert.deepEqual(mutating(await scene.talosCalls()), [], "talosctl changed something");
          assert.deepEqual(await scene.kubectlCalls(), [], "kubectl ran");
          await scene.resetCalls();
        },
      );

      const argo = playArgoCd(cp.client, rendering);
      try {
        await t.step("fresh nodes: every step runs, in order, and the cluster ends up as rendered", async () => {
          const reports = await runBootstrap(scene.deps, { yes: true });
          assert.deepEqual(reports.map((r) => r.name), ORDER);
          // kwok's nodes are Ready without a CNI, so the nodes step finds its work done.
          assert.deepEqual(reports.map((r) => r.outcome), ORDER.map((s) => s === "nodes" ? "done already" : "ran"));
          // The nodes were installed through maintenance mode, etcd bootstrapped once, then the kubeconfig.
          const talos = mutating(await scene.talosCalls());
          assert.equal(talos.filter((c) => c.includes("apply-config") && c.endsWith("--insecure")).length, 3);
          assert.equal(talos.filter((c) => / bootstrap$/.test(c)).length, 1);
          assert.ok(
            talos.findIndex((c) => / bootstrap$/.test(c)) > talos.findLastIndex((c) => c.includes("apply-config")),
          );
          // Steps started in the plan's order.
          const started = scene.lines.map((l) => /^\[(\d+)\/12\] ([\w-]+): (?!done|ok)/.exec(l)?.[2]).filter(Boolean);
          assert.deepEqual(started, ORDER.filter((s) => s !== "preflight" && s !== "nodes"));
          for (const app of rendering.apps) {
            for (const o of app.objects) {
              if (o.kind === "CiliumLoadBalancerIPPool") continue;
              assert.ok(await cp.client.get(o), `${o.kind} ${o.metadata.name} of ${app.app.name} was not applied`);
            }
          }
          assert.ok(scene.lines.some((l) => l.includes("left to Argo CD") && l.includes("CiliumLoadBalancerIPPool")));
          const root = await cp.client.get<KubeObject & { spec: { source: { path: string } } }>({
            apiVersion: "argoproj.io/v1alpha1",
            kind: "Application",
            metadata: { name: "root", namespace: "argocd" },
          });
          assert.equal(root?.spec.source.path, "root");
          // State changes of the Applications were printed.
          const seen = scene.lines.filter((l) => l.includes("Application cert-manager: "));
          assert.ok(seen.length >= 2, `cert-manager's states: ${seen.join(" | ")}`);
          assert.match(seen.at(-1)!, / → Synced\/Healthy$/);
        });

        await t.step("the Argo CD key reached the cluster through kubectl's standard input only", async () => {
          const s = await cp.client.get<{ data: Record<string, string> }>({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "sops-age", namespace: "argocd" },
          });
          const text = atob(s!.data["keys.txt"]);
          const key = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(text)?.[0];
          assert.ok(key, "no age key in the Secret");
          const argv = [...await scene.kubectlCalls(), ...await scene.talosCalls()];
          assert.ok(argv.some((c) => c.includes("apply --server-side") && c.endsWith("-f -")));
          assert.ok(!argv.some((c) => c.includes(key)), "the key was in a command line");
          assert.ok(!scene.lines.some((l) => l.includes(key)), "the key was printed");
          assert.deepEqual(await filesContaining(dir, key), [], "the key was written to a file");
        });

        await t.step("a second run skips every step and applies nothing", async () => {
          await scene.resetCalls();
          const reports = await runBootstrap(scene.deps, { yes: true });
          assert.deepEqual(reports.map((r) => r.outcome), ["ran", ...ORDER.slice(1).map(() => "done already")]);
          assert.deepEqual(mutating(await scene.talosCalls()), []);
          assert.deepEqual(await scene.kubectlCalls(), [], "kubectl ran (it is only used to apply)");
        });
      } finally {
        await argo.stop();
      }

      await t.step("Argo CD's Application CRD not yet Established when the root app is due: waited for", async () => {
        const crd = {
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: "applications.argoproj.io" },
        };
        const del = (name: string) =>
          cp.client.request("DELETE", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        await del(crd.metadata.name);
        await eventually(async () => !(await cp.client.get(crd)), "the Application CRD deleted");
        // Another CRD claims the kind Application in argoproj.io first: the real one stays not Established.
        const squatter = {
          ...crd,
          metadata: { name: "squatters.argoproj.io" },
          spec: {
            group: "argoproj.io",
            names: { kind: "Application", plural: "squatters", singular: "squatter", listKind: "ApplicationList" },
            scope: "Namespaced",
            versions: [{
              name: "v1alpha1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
            }],
          },
        };
        assert.equal((await cp.client.apply(squatter as KubeObject)).status, 201);
        const argocd = rendering.apps.find((a) => a.app.name === "argocd")!;
        const real = argocd.objects.find((o) => o.metadata.name === crd.metadata.name)!;
        assert.equal((await cp.client.apply(real)).status, 201);
        await scene.resetCalls();
        const run = runBootstrap(scene.deps, { only: "root" });
        const waited = await eventually(
          () => scene.lines.some((l) => /applications\.argoproj\.io.*: NamesAccepted=False/.test(l)),
          "the CRD's NamesAccepted=False state",
        ).then(() => true, () => false);
        const applied = (await scene.kubectlCalls()).some((c) => c.includes("apply"));
        await del("squatters.argoproj.io");
        if (!waited || applied) await run.catch(() => {});
        assert.ok(waited, `the root step did not report the CRD's state:\n${scene.lines.join("\n")}`);
        assert.ok(!applied, "the root app was applied before the CRD was Established");
        const reports = await run;
        assert.deepEqual(reports.filter((r) => r.outcome === "ran").map((r) => r.name), ["root"]);
        assert.ok(scene.lines.some((l) => /applications\.argoproj\.io.*: .*Established=True/.test(l)));
      });

      await t.step("a wait that times out says which pods are not ready and why, and the warning events", async () => {
        // A Deployment no node can take: its pod stays Pending and the scheduler says why.
        const cilium = rendering.apps.find((a) => a.app.name === "cilium")!;
        const deploy = stuckDeployment(cilium.objects, "cilium-stuck");
        const stuck = {
          ...rendering,
          apps: rendering.apps.map((a) => a === cilium ? { ...a, objects: [...a.objects, deploy] } : a),
        };
        await scene.resetCalls();
        const err = await runBootstrap({
          ...scene.deps,
          render: () => Promise.resolve(stuck),
          timeouts: { crdMs: 30_000, rolloutMs: 3_000, nodesMs: 30_000, appsMs: 60_000 },
        }, { only: "cilium" }).then(() => undefined, (e) => e);
        assert.ok(err instanceof HomelabError, String(err));
        assert.match(
          err.message,
          /timed out after 3s waiting for the Deployments of cilium to be Available; last seen: /,
        );
        assert.match(err.message, /Deployment cilium-stuck: 0\/1 available/);
        assert.match(err.message, /pod kube-system\/cilium-stuck-[\w-]+: not scheduled: 0\/3 nodes are available/);
        assert.match(err.message, /warning Pod kube-system\/cilium-stuck-[\w-]+: FailedScheduling: /);
        assert.ok(
          scene.lines.some((l) => l.includes("waiting for the Deployments of cilium to be Available (deadline 3s)")),
        );
      });
    });
  });
});
