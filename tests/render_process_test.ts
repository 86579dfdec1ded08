/**
 * `deno task diff` as a process: Ctrl-C while the base revision renders removes the temporary
 * worktree and scratch space, and leaves no tool running. Runs a copy of the tooling inside the
 * render fixture repository, with the real tools and a chart repository on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { denoDir, fakeTool, REPO } from "./helpers.ts";
import { fixtureRepo, git, makeCharts, renderToolsPath, serve } from "./render_helpers.ts";
import { Runner } from "../lib/cmd.ts";

async function copyTooling(root: string): Promise<void> {
  for (const entry of ["lib", "tasks"]) {
    const out = await new Deno.Command("cp", { args: ["-R", join(REPO, entry), join(root, entry)] }).output();
    assert.ok(out.success);
  }
  for (const file of ["deno.json", "deno.lock"]) await Deno.copyFile(join(REPO, file), join(root, file));
}

async function waitFor(path: string, seconds = 60): Promise<string> {
  for (let i = 0; i < seconds * 10; i++) {
    const text = (await Deno.readTextFile(path).catch(() => "")).trim();
    if (text) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} did not appear`);
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("Ctrl-C during `diff` removes the temporary worktree and leaves no process behind", async () => {
  const work = await Deno.makeTempDir({ prefix: "homelab-test-" });
  const server = serve(join(work, "site"));
  try {
    const realPath = await renderToolsPath();
    await makeCharts(new Runner({ env: { PATH: realPath, HOME: work } }), work, join(work, "site"), server.url);
    const { repo, keyFile } = await fixtureRepo(work, server.url, realPath);
    await copyTooling(repo);
    git(repo, "add", "-A");
    git(repo, "commit", "-qm", "tooling");
    const base = git(repo, "rev-parse", "HEAD").trim();
    await Deno.writeTextFile(join(repo, "system/web/values.yaml"), "replicaCount: 2\n");

    // kustomize that says it started (its pid) and then takes its time.
    const marker = join(work, "building");
    const slow = join(work, "slow");
    await fakeTool(
      slow,
      "kustomize",
      `if [ "$1" = build ]; then echo $$ > "${marker}"; sleep 60; fi\nPATH="${realPath}" exec kustomize "$@"`,
    );
    const tmp = join(work, "tmp");
    await Deno.mkdir(tmp);
    const child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "run", "-A", join(repo, "tasks", "diff.ts"), base],
      cwd: repo,
      env: {
        HOME: join(work, "home"),
        XDG_CACHE_HOME: join(work, "cache"),
        PATH: `${dirname(Deno.execPath())}:${slow}:${realPath}`,
        SOPS_AGE_KEY_FILE: keyFile,
        DENO_DIR: denoDir(),
        TMPDIR: tmp,
        NO_COLOR: "1",
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let status: Deno.CommandStatus;
    let stderr = "";
    try {
      const kustomizePid = Number(await waitFor(marker));
      assert.equal(git(repo, "worktree", "list").trim().split("\n").length, 2, "the base is rendering in a worktree");
      Deno.kill(-child.pid, "SIGINT"); // the terminal's Ctrl-C: the whole process group
      const out = await child.output();
      status = out;
      stderr = new TextDecoder().decode(out.stderr);
      for (let i = 0; i < 50 && alive(kustomizePid); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!alive(kustomizePid), "kustomize outlived the task");
    } catch (err) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
      await child.output().catch(() => {});
      throw err;
    }
    assert.equal(status.code, 130, stderr);
    assert.equal(git(repo, "worktree", "list").trim().split("\n").length, 1, "the worktree is gone");
    const left: string[] = [];
    for await (const e of Deno.readDir(tmp)) left.push(e.name);
    assert.deepEqual(left, [], `no scratch space left behind; stderr: ${stderr}`);
  } finally {
    await server.close();
    await Deno.remove(work, { recursive: true });
  }
});
