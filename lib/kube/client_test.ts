import assert from "node:assert/strict";
import { ApiError, KubeClient } from "./client.ts";

/**
 * A stand-in API server on 127.0.0.1 (plain HTTP): discovery for ConfigMaps, and each
 * ConfigMap's name says what status to answer with.
 */
async function withApi(fn: (client: KubeClient, paths: string[]) => Promise<void>, discovery = 200): Promise<void> {
  const paths: string[] = [];
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    paths.push(path);
    if (path === "/apis") {
      return discovery === 200
        ? json(200, { groups: [] })
        : json(discovery, { kind: "Status", status: "Failure", message: "Unauthorized", code: discovery });
    }
    if (path === "/api/v1") {
      return json(200, { resources: [{ name: "configmaps", kind: "ConfigMap", namespaced: true }] });
    }
    const m = /^\/api\/v1\/namespaces\/ns\/configmaps\/(\w+)$/.exec(path);
    if (!m) return json(404, { kind: "Status", reason: "NotFound", code: 404 });
    const status = { present: 200, missing: 404, unauthorized: 401, forbidden: 403, broken: 500 }[m[1]] ?? 404;
    if (status === 200) return json(200, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: m[1] } });
    return json(status, {
      kind: "Status",
      status: "Failure",
      message: `configmaps "${m[1]}" answered ${status}`,
      reason: status === 404 ? "NotFound" : "Other",
      code: status,
    });
  });
  const client = new KubeClient({ server: `http://127.0.0.1:${server.addr.port}`, caPem: "" });
  try {
    await fn(client, paths);
  } finally {
    client.close();
    await server.shutdown();
  }
}

const configMap = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns" } });

Deno.test("KubeClient.get: only 404 is 'not found'; 401, 403 and 500 are errors naming the status", async () => {
  await withApi(async (client) => {
    assert.equal((await client.get(configMap("present")))?.metadata.name, "present");
    assert.equal(await client.get(configMap("missing")), undefined);
    for (const [name, status] of [["unauthorized", 401], ["forbidden", 403], ["broken", 500]] as const) {
      await assert.rejects(
        client.get(configMap(name)),
        (e: unknown) =>
          e instanceof ApiError && e.status === status &&
          e.message ===
            `GET /api/v1/namespaces/ns/configmaps/${name}: ${status} configmaps "${name}" answered ${status}`,
        name,
      );
      await assert.rejects(client.must("GET", `/api/v1/namespaces/ns/configmaps/${name}`), ApiError);
    }
    // must() refuses a 404 too; request() reports every status as it came.
    await assert.rejects(client.must("GET", "/api/v1/namespaces/ns/configmaps/missing"), /: 404/);
    assert.equal((await client.request("GET", "/api/v1/namespaces/ns/configmaps/forbidden")).status, 403);
  });
});

Deno.test("KubeClient: a refused discovery is an error, not a kind the server lacks", async () => {
  for (const status of [401, 403, 500]) {
    await withApi(async (client) => {
      await assert.rejects(
        client.get(configMap("present")),
        (e: unknown) => e instanceof ApiError && e.status === status && /^GET \/apis: /.test(e.message),
        String(status),
      );
    }, status);
  }
});

Deno.test("KubeClient: a server that accepts and never answers ends the request with an error naming it", async () => {
  // Accepts connections on 127.0.0.1 and keeps them open without a word, as a stuck connection.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const server = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const client = new KubeClient({ server, caPem: "" }, { requestTimeoutMs: 100 });
  try {
    await assert.rejects(client.request("GET", "/readyz"), (e: Error) => {
      assert.equal(e.message, `GET /readyz: no answer from ${server} within 0.1s`);
      return true;
    });
    // A caller's own signal still wins: its abort is not reported as the server's silence.
    const mine = new AbortController();
    const pending = client.request("GET", "/livez", { signal: mine.signal });
    mine.abort(new Error("the caller gave up"));
    await assert.rejects(pending, /the caller gave up/);
  } finally {
    client.close();
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});
