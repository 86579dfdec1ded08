import assert from "node:assert/strict";
import { join } from "node:path";
import { HomelabError } from "../errors.ts";
import type { ApiResponse } from "./client.ts";
import { notReady, until } from "./controlplane.ts";
import { withTempDir } from "../../tests/helpers.ts";

/** A daemon as `until` sees it: a name, a log written now, and an exit that happens when told. */
async function daemon(dir: string, name: string, log: string) {
  const logFile = join(dir, `${name}.log`);
  await Deno.writeTextFile(logFile, log);
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  return { name, logFile, exited, exit };
}

async function failure(p: Promise<unknown>): Promise<HomelabError> {
  const err = await p.then(() => undefined, (e) => e);
  assert.ok(err instanceof HomelabError, `expected a HomelabError, got ${err}`);
  return err;
}

Deno.test("until: a timeout names what the last attempt saw and the end of the server's log", async () => {
  await withTempDir(async (dir) => {
    const etcd = await daemon(dir, "etcd", "etcd started\n");
    const api = await daemon(dir, "kube-apiserver", "line 1\nE1203 storage not ready\n");
    let attempts = 0;
    const err = await failure(
      until("kube-apiserver to be ready", () => Promise.resolve(`failing readiness checks: check-${++attempts}`), {
        watch: [etcd, api],
        timeout: 100,
      }),
    );
    assert.ok(attempts >= 2, `tried ${attempts} time(s)`);
    assert.match(err.message, /^timed out after \d+s waiting for kube-apiserver to be ready; last seen: /);
    assert.ok(err.message.includes(`last seen: failing readiness checks: check-${attempts}\n`), err.message);
    assert.match(err.message, /kube-apiserver's log ends:\n {2}\| line 1\n {2}\| E1203 storage not ready/);
    assert.doesNotMatch(err.message, /etcd started/);
  });
});

Deno.test("until: an attempt that never answers is given up, and a later one can still succeed", async () => {
  await withTempDir(async (dir) => {
    const api = await daemon(dir, "kube-apiserver", "");
    let attempts = 0;
    // The first attempt never settles and ignores its signal, as a request on a stuck connection.
    await until(
      "kube-apiserver to be ready",
      () => ++attempts === 1 ? new Promise<never>(() => {}) : Promise.resolve(true),
      { watch: [api], timeout: 600_000, attemptMs: 50 },
    );
    assert.equal(attempts, 2);

    // When no attempt ever answers, the timeout says so.
    const err = await failure(
      until("kube-apiserver to be ready", () => new Promise<never>(() => {}), {
        watch: [api],
        timeout: 120,
        attemptMs: 50,
      }),
    );
    assert.match(err.message, /last seen: no answer within 0\.05s/);

    // An attempt that throws is noted with its message.
    const refused = await failure(
      until("kube-apiserver to be ready", () => Promise.reject(new TypeError("Connection refused (os error 111)")), {
        watch: [api],
        timeout: 50,
      }),
    );
    assert.match(refused.message, /last seen: Connection refused \(os error 111\)/);
  });
});

Deno.test("until: a daemon that exits ends the wait at once, with its log", async () => {
  await withTempDir(async (dir) => {
    const etcd = await daemon(dir, "etcd", "listen tcp 127.0.0.1:2379: bind: address already in use\n");
    const api = await daemon(dir, "kube-apiserver", "");
    etcd.exit(1);
    const err = await failure(
      until("kube-apiserver to be ready", () => Promise.resolve("not yet"), { watch: [etcd, api], timeout: 600_000 }),
    );
    assert.match(
      err.message,
      /^etcd exited while waiting for kube-apiserver to be ready:\n {2}\| listen tcp .*address already in use/,
    );
    assert.ok(err.hint?.includes(etcd.logFile));
  });
});

Deno.test("notReady: 200 is ready; otherwise the failing checks /readyz?verbose lists, or its status", async () => {
  const answering = (status: number, body: string) => ({
    request: <T>(method: string, path: string): Promise<ApiResponse<T>> => {
      assert.equal(`${method} ${path}`, "GET /readyz?verbose");
      return Promise.resolve({ status, body: body as T, warnings: [] });
    },
  });
  const signal = new AbortController().signal;
  assert.equal(await notReady(answering(200, "[+]ping ok\nreadyz check passed\n"), signal), true);
  assert.equal(
    await notReady(
      answering(
        500,
        "[+]ping ok\n[-]etcd-readiness failed: reason withheld\n[+]informer-sync ok\n" +
          "[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n",
      ),
      signal,
    ),
    "failing readiness checks: etcd-readiness failed: reason withheld; poststarthook/rbac/bootstrap-roles failed: not finished",
  );
  assert.equal(await notReady(answering(403, "forbidden"), signal), "/readyz answered 403");
});
