/**
 * The local control plane's egress guard: no packet leaves the machine, whatever objects the
 * API server is given.
 *
 * kube-apiserver reads an EgressSelectorConfiguration (`--egress-selector-config-file`) that
 * sends every connection it would open to something outside itself through an HTTP CONNECT
 * proxy on a Unix socket in the control plane's private directory. This module is that proxy,
 * and it refuses every request: it answers `403` with a reason that names the guard, and
 * records the destination asked for. A webhook configuration, an APIService or a CRD conversion
 * webhook applied for real then fails with the API server's own error ("proxy error from
 * …/egress.sock while dialing 10.96.0.10:443, code 403: …") instead of reaching for an address
 * that only exists in a real cluster. Nothing here needs loopback either: the API server talks to
 * its own etcd directly (the `etcd` selection) and to itself in-process.
 *
 * What goes through which selection (k8s.io/apiserver, k8s.io/kube-aggregator and
 * k8s.io/kubernetes at the pinned release):
 * - `cluster`: admission and CRD conversion webhooks that name a Service
 *   (apiserver `pkg/util/webhook/authentication.go`, `ClientConfigForService`; conversion through
 *   apiextensions-apiserver `pkg/apiserver/conversion/webhook_converter.go`), the aggregator's
 *   proxy and availability checks of APIServices (kube-aggregator `pkg/apiserver/apiserver.go`),
 *   the kubelet client for logs, exec and port-forward (kubernetes
 *   `pkg/kubelet/client/kubelet_client.go`) and the `proxy` subresources of services, pods and
 *   nodes (kubernetes `cmd/kube-apiserver/app/server.go`);
 * - `controlplane`: admission webhooks that name a URL (`ClientConfigFor`), authentication and
 *   authorization webhooks, OIDC issuers, audit webhooks and tracing (none configured here);
 * - `etcd`: the store, dialled directly (it is this control plane's etcd on 127.0.0.1).
 *
 * A selection the file leaves out dials directly (`EgressSelector.Lookup` returns no dialer), so
 * the file names all three. Of the transports the API server accepts (HTTPConnect over TCP or a
 * Unix socket, GRPC over a Unix socket), a Unix socket in a 0700 directory is the one nothing
 * else on the machine can reach or impersonate.
 *
 * @module
 */

import { stringify } from "yaml";
import { MAX_SOCKET_PATH } from "../cleanup.ts";
import { HomelabError } from "../errors.ts";

/** The status line every CONNECT gets; the API server puts it into the error it reports. */
export const REFUSAL = "403 refused by the local control plane's egress guard: nothing leaves 127.0.0.1";

/** The running guard. */
export interface EgressGuard {
  /** The Unix socket the API server's egress selections point at. */
  readonly socket: string;
  /** Every destination the API server asked to reach (`10.96.0.10:443`), in order. */
  readonly refused: readonly string[];
  /** Stops listening and drops open connections. Safe to call twice. */
  close(): Promise<void>;
}

/** The EgressSelectorConfiguration (YAML) that sends `cluster` and `controlplane` traffic to `socket`. */
export function egressSelectorConfiguration(socket: string): string {
  const proxy = { proxyProtocol: "HTTPConnect", transport: { uds: { udsName: socket } } };
  return stringify({
    apiVersion: "apiserver.k8s.io/v1beta1",
    kind: "EgressSelectorConfiguration",
    egressSelections: [
      { name: "cluster", connection: proxy },
      { name: "controlplane", connection: proxy },
      { name: "etcd", connection: { proxyProtocol: "Direct" } },
    ],
  });
}

/** Starts the guard on a new Unix socket at `socket` (in a private directory). */
export function startEgressGuard(socket: string): EgressGuard {
  if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
    throw new HomelabError(
      `the control plane's socket path is too long for a Unix socket (${socket})`,
      { hint: "set TMPDIR to a shorter directory, such as /tmp" },
    );
  }
  const listener = Deno.listen({ transport: "unix", path: socket });
  const refused: string[] = [];
  const open = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        open.add(conn);
        const h = answer(conn, refused).finally(() => {
          open.delete(conn);
          handlers.delete(h);
        });
        handlers.add(h);
      }
    } catch {
      // the listener was closed
    }
  })();
  let closed: Promise<void> | undefined;
  return {
    socket,
    refused,
    close() {
      closed ??= (async () => {
        try {
          listener.close();
        } catch {
          // closed already
        }
        for (const c of open) closeQuietly(c);
        await accepting;
        await Promise.all(handlers);
        await Deno.remove(socket).catch(() => {});
      })();
      return closed;
    },
  };
}

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch {
    // closed already
  }
}

/** Reads one request head, records a CONNECT's destination, refuses, closes. */
async function answer(conn: Deno.Conn, refused: string[]): Promise<void> {
  const buf = new Uint8Array(8192);
  let n = 0;
  try {
    let head = "";
    while (n < buf.length && !head.includes("\r\n\r\n")) {
      const r = await conn.read(buf.subarray(n));
      if (r === null) break;
      n += r;
      head = new TextDecoder().decode(buf.subarray(0, n));
    }
    const m = /^CONNECT (\S+) HTTP\/1\.[01]\r\n/.exec(head);
    refused.push(m ? m[1] : "(not a CONNECT request)");
    const status = m ? REFUSAL : "400 the local control plane's egress guard only answers CONNECT";
    const reply = new TextEncoder().encode(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    for (let off = 0; off < reply.length;) off += await conn.write(reply.subarray(off));
  } catch {
    // the API server hung up, or the guard is closing
  } finally {
    closeQuietly(conn);
  }
}
