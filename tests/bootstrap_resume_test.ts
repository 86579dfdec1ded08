/**
 * Bootstrap killed (SIGKILL) after each step in turn, and once in the middle of a wait: every
 * re-run skips what was done, runs the next step, and the last one finishes; nothing done is
 * done again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bootstrapScene, ORDER, playArgoCd } from "./bootstrap_helpers.ts";
import { denoDir, REPO, withTempDir } from "./helpers.ts";
import { withControlPlane } from "./kube_helpers.ts";

/** Runs bootstrap in its own process until `killAt` says so (then SIGKILL) or it ends. */
async function runUntil(
  sceneFile: string,
  killAt: (line: string) => boolean,
): Promise<{ lines: string[]; killed: boolean; code: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "tests", "fixtures", "bootstrap", "run.ts"), sceneFile],
    env: { DENO_DIR: denoDir(), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
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
      if (!killed && killAt(line)) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const { code } = await child.status;
  if (!killed && code !== 0) throw new Error(`bootstrap failed (${code}):\n${lines.join("\n")}\n${await stderr}`);
  await stderr;
  return { lines, killed, code };
}

Deno.test("bootstrap killed after each step, and once while waiting: each re-run resumes and repeats nothing", async () => {
  await withControlPlane({ controllers: true, nodes: ["node-1", "node-2", "node-3"] }, async (cp) => {
    await withTempDir(async (dir) => {
      const scene = await bootstrapScene(dir, cp);
      const sceneFile = join(dir, "scene.json");
      await Deno.writeTextFile(
        sceneFile,
        JSON.stringify({ root: scene.root, env: scene.env, apiServer: cp.server }),
      );
      const ran: string[] = [];
      let waitKilled = false;
      let argo: { stop(): Promise<void> } | undefined;
      try {
        for (let run = 0; run < ORDER.length + 2; run++) {
          const r = await runUntil(sceneFile, (line) => {
            // Once: in the middle of the wait for the Applications (Argo CD is not playing yet).
            if (!waitKilled && line.includes("waiting for every Application to be Synced and Healthy")) return true;
            return /^\[\d+\/12\] [\w-]+: done in /.test(line);
          });
          const finished = r.lines.map((l) => /^\[\d+\/12\] ([\w-]+): done in /.exec(l)?.[1]).filter(Boolean);
          const skipped = r.lines.map((l) => /^\[\d+\/12\] ([\w-]+): (done already|ok) /.exec(l)?.[1]).filter(
            Boolean,
          );
          // Everything before the step that ran this time was found done, from the real state.
          const first = finished[0] ?? "apps";
          assert.deepEqual(
            skipped.filter((s) => ORDER.indexOf(s!) < ORDER.indexOf(first)),
            ORDER.slice(0, ORDER.indexOf(first)).filter((s) => ran.includes(s) || s === "preflight" || s === "nodes"),
            `run ${run}:\n${r.lines.join("\n")}`,
          );
          ran.push(...finished as string[]);
          if (r.killed && !finished.length) {
            waitKilled = true;
            argo = playArgoCd(cp.client, await scene.deps.render());
          }
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
