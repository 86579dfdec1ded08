/**
 * The site values of the repository under test, read from its site.yaml, for tests that run the
 * real talos/ or root/ and must hold for any owner's values.
 * @module
 */

import { join } from "node:path";
import { parseSite, type Site } from "../lib/site/site.ts";
import { REPO } from "./helpers.ts";

/** The repository's site.yaml. */
export const SITE: Site = (() => {
  const { site, problems } = parseSite(Deno.readTextFileSync(join(REPO, "site.yaml")));
  if (!site || problems.length) throw new Error(`site.yaml: ${problems.map((p) => p.message).join("; ")}`);
  return site;
})();

/** The cluster's name (talhelper names the node configs `NAME-HOSTNAME.yaml`). */
export const CLUSTER = SITE.cluster.name;

/** The three control planes the scenes play, by hostname. */
export const IPS: Record<"node-1" | "node-2" | "node-3", string> = (() => {
  const byHost = Object.fromEntries(SITE.nodes.map((n) => [n.hostname, n.address]));
  const hosts = ["node-1", "node-2", "node-3"] as const;
  for (const h of hosts) if (!byHost[h]) throw new Error(`site.yaml has no node ${h}: the talos test scenes play it`);
  return Object.fromEntries(hosts.map((h) => [h, byHost[h]])) as Record<(typeof hosts)[number], string>;
})();

/** `text` with the site's node addresses and cluster name as placeholders, for golden files. */
export function sitePlaceholders(text: string): string {
  let out = text;
  for (const [host, ip] of Object.entries(IPS)) {
    out = out.replace(new RegExp(`\\b${ip.replaceAll(".", "\\.")}\\b`, "g"), `$${host}`);
  }
  return out.replaceAll(`--context ${CLUSTER} `, "--context $CLUSTER ").replaceAll(`/${CLUSTER}-`, "/$CLUSTER-");
}
