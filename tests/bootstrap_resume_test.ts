/**
 * Bootstrap killed (SIGKILL) after each step in turn, and once in the middle of a wait: every
 * re-run skips what was done, runs the next step, and the last one finishes; nothing done is
 * done again. A run killed while Cilium's or Argo CD's Deployments roll out waits for them again.
 *
 * The child stops at known points (tests/fixtures/bootstrap/run.ts: after each step's "done" line
 * and before each wait) until the test answers, so a kill lands exactly where the test says,
 * however busy the machine is.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bootstrapScene, ORDER, PAUSE, playArgoCd, type Scene } from "./bootstrap_helpers.ts";
import { denoDir, REPO, withTempDir } from "./helpers.ts";
import { withControlPlane } from "./kube_helpers.ts";
import type { ControlPlane } from "../lib/kube/controlplane.ts";

/**
 * Runs bootstrap in its own process. At each pause line, `killAt` decides: SIGKILL it there, or
 * let it go on. Returns what it printed, whether it was killed, and its exit code.
 */
async function runUntil(
  sceneFile: string,
  killAt: (line: string) => boolean,
): Promise<{ lines: string[]; killed: boolean; code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "tests", "fixtures", "bootstrap", "run.ts"), sceneFile],
    env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines: string[] = [];
  let killed = false;
  let buffer = "";
  const stderr = new Response(child.stderr).text();
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      if (killed || !PAUSE.test(line)) continue;
      if (killAt(line)) {
        child.kill("SIGKILL");
        killed = true;
      } else {
        await stdin.write(new TextEncoder().encode("\n"));
      }
    }
  }
  await stdin.close().catch(() => {});
  const { code } = await child.status;
  return { lines, killed, code, stderr: await stderr };
}

async function sceneFile(dir: string, cp: ControlPlane, extra: Record<string, unknown> = {}): Promise<Scene> {
  const scene = await bootstrapScene(dir, cp);
  await Deno.writeTextFile(
    join(dir, "scene.json"),
    JSON.stringify({ root: scene.root, env: scene.env, apiServer: cp.server, ...extra }),
  );
  return scene;
}

const doneLine = (l: string) => /^\[\d+\/12\] ([\w-]+): done in /.exec(l)?.[1];

Deno.test("bootstrap killed after each step, and once while waiting: each re-run resumes and repeats nothing", async () => {
  await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const scene = await sceneFile(dir, cp);
      const ran: string[] = [];
      const rendering = await scene.deps.render();
      let waitKilled = false;
      let argo: { stop(): Promise<void> } | undefined;
      try {
        for (let run = 0; run < ORDER.length + 2; run++) {
          const r = await runUntil(join(dir, "scene.json"), (line) => {
            if (line.startsWith("waiting for every Application to be Synced and Healthy")) {
              // The first time: killed at the start of the wait. The next time, Argo CD starts
              // playing only now, so the resumed run has found the Applications not yet healthy.
              if (!waitKilled) return waitKilled = true;
              argo ??= playArgoCd(cp.client, rendering);
              return false;
            }
            return doneLine(line) !== undefined;
          });
          if (!r.killed && r.code !== 0) {
            throw new Error(`bootstrap failed (${r.code}):\n${r.lines.join("\n")}\n${r.stderr}`);
          }
          const finished = r.lines.map(doneLine).filter(Boolean) as string[];
          const skipped = r.lines.map((l) => /^\[\d+\/12\] ([\w-]+): (done already|ok) /.exec(l)?.[1]).filter(
            Boolean,
          );
          // Each killed run finished at most one step (it stopped right after a "done" line).
          assert.ok(finished.length <= 1, `run ${run}:\n${r.lines.join("\n")}`);
          // Everything before the step that ran this time was found done, from the real state.
          const first = finished[0] ?? "apps";
          assert.deepEqual(
            skipped.filter((s) => ORDER.indexOf(s!) < ORDER.indexOf(first)),
            ORDER.slice(0, ORDER.indexOf(first)).filter((s) => ran.includes(s) || s === "preflight" || s === "nodes"),
            `run ${run}:\n${r.lines.join("\n")}`,
          );
          ran.push(...finished);
          if (!r.killed) break;
        }
      } finally {
        await argo?.stop();
      }
      assert.ok(waitKilled, "the wait for the Applications was never interrupted");
      assert.deepEqual(ran, ORDER.filter((s) => s !== "preflight" && s !== "nodes"));
      // Nothing done was done again.
      const talos = await scene.talosCalls();
      assert.equal(talos.filter((c) => c.includes("apply-config")).length, 3, "a node was configured twice");
      assert.equal(talos.filter((c) => / bootstrap$/.test(c)).length, 1, "etcd was bootstrapped twice");
      assert.equal(talos.filter((c) => / kubeconfig /.test(c)).length, 1);
      // gateway-api 1 (its CRD), cilium 1, argocd-key 1, argocd 2 (Namespace and CRDs, then the rest), root 1.
      const applies = (await scene.kubectlCalls()).filter((c) => c.includes(" apply "));
      assert.equal(applies.length, 6, applies.join("\n"));
    });
  });
});

for (const app of ["cilium", "argocd"]) {
  Deno.test(`bootstrap killed while ${app}'s Deployments roll out waits for them again when resumed`, async () => {
    await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
      await withTempDir(async (dir) => {
        // One of the app's Deployments can never become Available (no node takes its pod).
        await sceneFile(dir, cp, { stuck: app });
        const wait = `waiting for the Deployments of ${app} to be Available`;
        const first = await runUntil(join(dir, "scene.json"), (line) => line.startsWith(wait));
        assert.ok(first.killed, `the rollout wait never began:\n${first.lines.join("\n")}\n${first.stderr}`);

        // The objects are in place, but the step is not done until its Deployments are Available:
        // the re-run does the step again and waits for them once more.
        const second = await runUntil(join(dir, "scene.json"), (line) => line.startsWith(wait));
        const text = `${second.lines.join("\n")}\n${second.stderr}`;
        assert.ok(
          !second.lines.some((l) => new RegExp(`^\\[\\d+/12\\] ${app}: done already`).test(l)),
          `the resumed run took ${app} for done:\n${text}`,
        );
        assert.ok(second.killed, `the resumed run did not wait for ${app}'s Deployments again:\n${text}`);
      });
    });
  });
}
