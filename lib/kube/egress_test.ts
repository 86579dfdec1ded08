import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { HomelabError } from "../errors.ts";
import { egressSelectorConfiguration, REFUSAL, startEgressGuard } from "./egress.ts";

/** Sends `request` to the guard's socket and returns the whole reply. */
async function ask(socket: string, request: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(new TextEncoder().encode(request));
    return await new Response(conn.readable).text();
  } catch (err) {
    conn.close();
    throw err;
  }
}

Deno.test("the egress guard refuses every CONNECT and records where it was meant to go", async () => {
  const dir = await Deno.makeTempDir();
  const guard = startEgressGuard(join(dir, "egress.sock"));
  try {
    // The request kube-apiserver sends (k8s.io/apiserver pkg/server/egressselector, tunnelHTTPConnect).
    const reply = await ask(guard.socket, "CONNECT 10.96.0.10:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert.equal(reply.split("\r\n")[0], `HTTP/1.1 ${REFUSAL}`);
    assert.match(reply, /\r\n\r\n$/);
    await ask(guard.socket, "CONNECT 127.0.0.1:6443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const other = await ask(guard.socket, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(other, /^HTTP\/1\.1 400 /);
    assert.deepEqual(guard.refused, ["10.96.0.10:443", "127.0.0.1:6443", "(not a CONNECT request)"]);
  } finally {
    await guard.close();
    await guard.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the egress guard names a socket path too long for Linux and how to shorten it", () => {
  assert.throws(
    () => startEgressGuard(`/tmp/${"x".repeat(120)}/egress.sock`),
    (e) => e instanceof HomelabError && /too long for a Unix socket/.test(e.message) && /TMPDIR/.test(e.hint ?? ""),
  );
});

Deno.test("the egress configuration sends cluster and controlplane traffic to the guard, etcd directly", () => {
  const config = parse(egressSelectorConfiguration("/run/x/egress.sock")) as {
    apiVersion: string;
    kind: string;
    egressSelections: { name: string; connection: { proxyProtocol: string; transport?: unknown } }[];
  };
  assert.equal(config.kind, "EgressSelectorConfiguration");
  const byName = Object.fromEntries(config.egressSelections.map((s) => [s.name, s.connection]));
  // Every selection is named: one left out would dial directly.
  assert.deepEqual(Object.keys(byName).sort(), ["cluster", "controlplane", "etcd"]);
  for (const name of ["cluster", "controlplane"]) {
    assert.deepEqual(byName[name], {
      proxyProtocol: "HTTPConnect",
      transport: { uds: { udsName: "/run/x/egress.sock" } },
    });
  }
  assert.deepEqual(byName.etcd, { proxyProtocol: "Direct" });
});
