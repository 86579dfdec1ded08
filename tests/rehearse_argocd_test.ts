/**
 * Argo CD's own repo-server and application-controller sync an Application from a git
 * repository served on 127.0.0.1 into the local control plane.
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { cmd, startDaemon } from "../lib/cmd.ts";
import { freePort } from "../lib/kube/controlplane.ts";
import { startArgoCD } from "../lib/rehearse/argocd.ts";
import { processTree, survivors, toolRunner, withControlPlane } from "./kube_helpers.ts";
import { patience } from "./helpers.ts";

interface AppStatus {
  status?: { sync?: { status?: string }; health?: { status?: string }; conditions?: { message?: string }[] };
}

Deno.test("Argo CD syncs an Application from a git daemon on 127.0.0.1 to Synced and Healthy", async () => {
  const runner = toolRunner();
  let pids: number[] = [];
  await withControlPlane({}, async (cp) => {
    // A repository with one ConfigMap, served by git daemon on 127.0.0.1.
    const repos = join(cp.dir, "repos");
    const repo = join(repos, "fixture");
    await Deno.mkdir(join(repo, "app"), { recursive: true });
    await Deno.writeTextFile(
      join(repo, "app", "configmap.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rehearsed\n  namespace: default\ndata:\n  greeting: hello\n",
    );
    const git = (...args: string[]) =>
      runner.run(cmd("git", args, {
        cwd: repo,
        env: {
          GIT_AUTHOR_NAME: "t",
          GIT_AUTHOR_EMAIL: "t@example.org",
          GIT_COMMITTER_NAME: "t",
          GIT_COMMITTER_EMAIL: "t@example.org",
        },
      }));
    await git("init", "-q", "-b", "main");
    await git("add", ".");
    await git("commit", "-q", "-m", "fixture");
    const gitPort = freePort();
    const daemon = await startDaemon(
      runner,
      cmd("git", [
        "daemon",
        `--base-path=${repos}`,
        "--export-all",
        "--reuseaddr",
        "--listen=127.0.0.1",
        `--port=${gitPort}`,
        repos,
      ]),
      join(cp.dir, "logs", "git-daemon.log"),
    );
    const argo = await startArgoCD(runner, cp, { reconciliation: 5 });
    try {
      pids = (await Promise.all([daemon, ...argo.daemons].map((d) => processTree(d.pid)))).flat();
      const path = `/apis/argoproj.io/v1alpha1/namespaces/${argo.namespace}/applications`;
      await cp.client.must("POST", path, {
        body: {
          apiVersion: "argoproj.io/v1alpha1",
          kind: "Application",
          metadata: { name: "fixture", namespace: argo.namespace },
          spec: {
            project: "default",
            source: { repoURL: `git://127.0.0.1:${gitPort}/fixture`, targetRevision: "main", path: "app" },
            destination: { server: "https://kubernetes.default.svc", namespace: "default" },
            syncPolicy: { automated: {} },
          },
        },
      });
      const deadline = Date.now() + patience(120_000);
      let app: AppStatus = {};
      while (Date.now() < deadline) {
        app = (await cp.client.must<AppStatus>("GET", `${path}/fixture`)).body;
        if (app.status?.sync?.status === "Synced" && app.status?.health?.status === "Healthy") break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(app.status?.sync?.status, "Synced", JSON.stringify(app.status));
      assert.equal(app.status?.health?.status, "Healthy", JSON.stringify(app.status));
      const cm = await cp.client.must<
        { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } }
      >(
        "GET",
        "/api/v1/namespaces/default/configmaps/rehearsed",
      );
      assert.deepEqual(cm.body.data, { greeting: "hello" });
      // Argo CD's own mark on what it applied (annotation tracking, its default).
      assert.equal(
        cm.body.metadata.annotations?.["argocd.argoproj.io/tracking-id"],
        "fixture:/ConfigMap:default/rehearsed",
      );
    } finally {
      await argo.stop();
      await daemon.stop();
    }
  });
  assert.deepEqual(await survivors(pids), [], "an Argo CD or git daemon process outlived the test");
});
