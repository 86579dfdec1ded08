/**
 * Reading a kubeconfig: its current context, the API server it points at, and a
 * {@link KubeClient} for it (bearer token, or client certificate as Talos and kind write them).
 *
 * ```ts
 * const kc = await readKubeconfig(".kube/config");
 * kc.context; // "admin@homelab"
 * kc.server;  // "https://192.168.1.40:6443"
 * const client = await clientOf(kc);
 * ```
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";
import { InputError } from "../errors.ts";
import { KubeClient } from "./client.ts";

/** The current context of a kubeconfig and how to reach its cluster. */
export interface Kubeconfig {
  readonly file: string;
  /** The current context's name. */
  readonly context: string;
  /** Its cluster's API server URL. */
  readonly server: string;
  readonly cluster: Record<string, string>;
  readonly user: Record<string, string>;
}

interface Named<T> {
  name: string;
  [key: string]: unknown;
  value?: T;
}

/** Reads `file`; undefined when it does not exist. Throws an {@link InputError} when it is unusable. */
export async function readKubeconfig(file: string): Promise<Kubeconfig | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  return parseKubeconfig(text, file);
}

/** Parses a kubeconfig's text (see {@link readKubeconfig}). */
export function parseKubeconfig(text: string, file: string): Kubeconfig | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = (parse(text) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new InputError(`is not YAML: ${(err as Error).message.split("\n")[0]}`, { file });
  }
  const current = doc["current-context"];
  if (typeof current !== "string" || !current) return undefined;
  const find = (list: unknown, name: string, field: string) =>
    ((list as Named<unknown>[] | undefined) ?? []).find((x) => x?.name === name)?.[field] as
      | Record<string, string>
      | undefined;
  const context = find(doc.contexts, current, "context");
  if (!context) {
    throw new InputError(`its current-context '${current}' is not among its contexts`, {
      file,
      hint: "fetch the kubeconfig again (or delete the file to let the task write it)",
    });
  }
  const cluster = find(doc.clusters, context.cluster, "cluster") ?? {};
  const user = find(doc.users, context.user, "user") ?? {};
  if (!cluster.server) {
    throw new InputError(`the cluster of context '${current}' has no server`, { file });
  }
  return { file, context: current, server: cluster.server, cluster, user };
}

async function pemOf(kc: Kubeconfig, data: string | undefined, path: string | undefined): Promise<string | undefined> {
  if (data) return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  if (path) return await Deno.readTextFile(isAbsolute(path) ? path : join(dirname(kc.file), path));
  return undefined;
}

/** A client for the kubeconfig's current context. */
export async function clientOf(kc: Kubeconfig): Promise<KubeClient> {
  const caPem = await pemOf(kc, kc.cluster["certificate-authority-data"], kc.cluster["certificate-authority"]);
  if (!caPem) {
    throw new InputError(`the cluster of context '${kc.context}' has no certificate authority`, { file: kc.file });
  }
  return new KubeClient({
    server: kc.server.replace(/\/$/, ""),
    caPem,
    token: kc.user.token,
    certPem: await pemOf(kc, kc.user["client-certificate-data"], kc.user["client-certificate"]),
    keyPem: await pemOf(kc, kc.user["client-key-data"], kc.user["client-key"]),
  });
}
