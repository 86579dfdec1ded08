import assert from "node:assert/strict";
import { join } from "node:path";
import { findOnPath } from "../path.ts";
import { alive } from "../../tests/kube_helpers.ts";
import { eventually, withTempDir } from "../../tests/helpers.ts";
import { cpuByProgram } from "./bench.ts";

Deno.test("bench names Argo CD's processes by component, also once they are ending", async () => {
  await withTempDir(async (dir) => {
    const sleep = await findOnPath("sleep", Deno.env.get("PATH") ?? "");
    assert(sleep, "no sleep program");
    // A program named like Argo CD's multi-call binary, told which component it is as Argo CD is.
    const argocd = join(dir, "argocd");
    await Deno.copyFile(sleep, argocd);
    await Deno.chmod(argocd, 0o755);
    // bash starts the program, prints its process ID and stops itself: stopped, it does not reap
    // the program once it ends, so the program stays a zombie until the test lets bash go.
    const parent = new Deno.Command("bash", {
      args: ["-c", `ARGOCD_BINARY_NAME=argocd-repo-server "$0" 600 & echo $!; kill -STOP $$`, argocd],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = parent.stdout.getReader();
    try {
      let out = "";
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        assert(!done, "bash ended before it printed the program's process ID");
        out += new TextDecoder().decode(value);
      }
      const pid = Number(out.trim());
      // The process ID comes as soon as bash has forked: wait until the fork runs the program.
      await eventually(
        async () => (await Deno.readTextFile(`/proc/${pid}/comm`)).trim() === "argocd",
        "the fork running the program",
      );
      const running = await cpuByProgram([pid]);
      assert(running.has("argocd-repo-server"), `named ${[...running.keys()]}`);
      assert(!running.has("argocd"));

      // Killed and not reaped, the process no longer shows its environment, only its name.
      Deno.kill(pid, "SIGKILL");
      await eventually(async () => !await alive(pid), "the killed program to end");
      assert(await Deno.stat(`/proc/${pid}`).then(() => true, () => false), "the program was reaped");
      assert.equal(await Deno.readTextFile(`/proc/${pid}/environ`).catch(() => ""), "");
      const ending = await cpuByProgram([pid]);
      assert(ending.has("argocd-repo-server"), `named ${[...ending.keys()]}`);
      assert(!ending.has("argocd"));
    } finally {
      reader.releaseLock();
      await parent.stdout.cancel();
      parent.kill("SIGKILL");
      await parent.status;
    }
  });
});
