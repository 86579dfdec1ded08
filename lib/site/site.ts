/**
 * `site.yaml`: every value that makes the repository one owner's (domain, addresses, pools, BGP,
 * repository), read and checked before `deno task configure` writes anything. The schema
 * (`schemas/site.schema.json`) checks the shape; {@link checkSite} the meaning: addresses in their
 * networks, pools apart from each other and from the nodes, names and numbers well-formed. The
 * node rules of `talos/talconfig.yaml` are not repeated here: configure runs talconfig's own check
 * on the file it would write (see `configure.ts`).
 *
 * @example
 * ```ts
 * const { site, problems } = parseSite(await Deno.readTextFile("site.yaml"));
 * problems; // [] for the repository's own site.yaml
 * site.cluster.domain; // "lab.example.org"
 * ```
 *
 * @module
 */

import { Ajv, type ErrorObject } from "ajv";
import { type Document, isMap, LineCounter, parseDocument } from "yaml";
import { parseCidr, parseIp, type Range } from "../check/addresses.ts";
import { PATHS } from "../repo.ts";
import type { Problem } from "../talos/talconfig.ts";

/** One machine. */
export interface SiteNode {
  readonly hostname: string;
  readonly address: string;
  readonly controlPlane: boolean;
  readonly mac?: string;
  readonly installDiskSelector: Readonly<Record<string, string>>;
}

/** One environment's LoadBalancer addresses. */
export interface LbEnvironment {
  /** dev: kind's docker network. */
  readonly network?: string;
  readonly pools: readonly string[];
  readonly gateway: string;
  readonly dns: string;
}

/** The contents of `site.yaml`. */
export interface Site {
  readonly cluster: { readonly name: string; readonly domain: string; readonly acmeEmail: string };
  readonly lan: { readonly subnet: string; readonly gateway: string; readonly vip: string };
  readonly nodes: readonly SiteNode[];
  readonly bgp: { readonly peerAddress: string; readonly peerASN: number; readonly localASN: number };
  readonly loadBalancer: { readonly prod: LbEnvironment; readonly dev: LbEnvironment };
  readonly repository: { readonly url: string; readonly branch: string };
}

/** A mistake in site.yaml: the key it is about (`lan.vip`, `nodes[1].address`) and its line. */
export interface SiteProblem extends Problem {
  readonly key: string;
}

/** The example values the repository ships with: a site.yaml still holding them is not anyone's yet. */
export const EXAMPLE = { domain: "lab.example.org", repository: "https://github.com/homelab/homelab.git" } as const;

/** Whether `site` still holds the shipped example values. */
export function isExample(site: Site): boolean {
  return site.cluster.domain === EXAMPLE.domain && site.repository.url === EXAMPLE.repository;
}

/** `a.b[1].c` for a path. */
export function keyOf(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** The line of the node at `path` (or of its key, or of the nearest parent that exists). */
export function lineIn(doc: Document, lines: LineCounter, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const p = path.slice(0, n);
    const node = (p.length ? doc.getIn(p, true) : doc.contents) as { range?: [number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
    const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
    if (p.length && isMap(parent)) {
      const pair = parent.items.find((x) => (x.key as { value?: unknown })?.value === p[p.length - 1]);
      const r = (pair?.key as { range?: [number] })?.range;
      if (r) return lines.linePos(r[0]).line;
    }
  }
  return undefined;
}

let schemaValidator: ((v: unknown) => boolean) & { errors?: ErrorObject[] | null } | undefined;

function validator() {
  if (!schemaValidator) {
    const schema = JSON.parse(
      Deno.readTextFileSync(new URL(`../../${PATHS.siteSchema}`, import.meta.url)),
    );
    schemaValidator = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  return schemaValidator!;
}

function schemaProblem(e: ErrorObject): { path: (string | number)[]; message: string; fix: string } {
  const path = e.instancePath.split("/").slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/")));
  const at = keyOf(path) || "the file";
  switch (e.keyword) {
    case "required":
      return {
        path,
        message: `${at} has no ${(e.params as { missingProperty: string }).missingProperty}`,
        fix: `add it (see ${PATHS.siteSchema})`,
      };
    case "additionalProperties": {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      return {
        path: [...path, extra],
        message: `${at === "the file" ? "" : `${at}.`}${extra} is not a site.yaml key`,
        fix: `remove it or fix its spelling (the keys are listed in ${PATHS.siteSchema})`,
      };
    }
    case "enum":
      return {
        path,
        message: `${at} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(", ")}`,
        fix: "pick one of them",
      };
    default:
      return { path, message: `${at} ${e.message}`, fix: `see ${PATHS.siteSchema}` };
  }
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether `s` is a DNS name of at least two labels (a zone such as `lab.example.org`). */
function validDomain(s: string): boolean {
  const labels = s.split(".");
  return s.length <= 253 && labels.length >= 2 && labels.every((l) => LABEL.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1]);
}

/** Whether `s` is an e-mail address with a real domain part. */
function validEmail(s: string): boolean {
  const at = s.lastIndexOf("@");
  return at > 0 && /^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+$/.test(s.slice(0, at)) && !s.startsWith(".") &&
    !s.slice(0, at).endsWith(".") && !s.includes("..") && validDomain(s.slice(at + 1).toLowerCase());
}

/** Whether Argo CD can clone `s`: https/http/ssh/git URL with a host and a path, or `user@host:path`. */
function validRepoUrl(s: string): boolean {
  if (/['"\\\s]/.test(s)) return false;
  if (/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$/.test(s)) return true;
  try {
    const u = new URL(s);
    return ["https:", "http:", "ssh:", "git:"].includes(u.protocol) && u.hostname !== "" && u.pathname.length > 1;
  } catch {
    return false;
  }
}

/** Whether `s` is a branch name git accepts (`git check-ref-format --branch`). */
function validBranch(s: string): boolean {
  return s.length > 0 && !/[\s~^:?*[\\'"]|\.\.|@\{|\/\/|^[-/]|\/$|\.lock$|^@$|\.$|\/\./.test(s) && !s.startsWith(".");
}

/** Whether `s` is a MAC address written as six colon-separated hex pairs. */
function validMac(s: string): boolean {
  return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s);
}

/** Why `n` cannot be a BGP AS number, or undefined when it can. */
function asnProblem(n: number): string | undefined {
  if (!Number.isInteger(n) || n < 1 || n > 4294967294) return "is not an AS number (1 to 4294967294)";
  if (n === 23456) return "is AS_TRANS (23456), reserved for 2-byte speakers";
  if (n === 65535 || (n >= 65536 && n <= 65551) || (n >= 64496 && n <= 64511)) {
    return "is reserved (RFC 5398/7300: documentation or last AS)";
  }
  return undefined;
}

const contains = (r: Range, ip: { family: 4 | 6; value: bigint }) =>
  r.family === ip.family && ip.value >= r.first && ip.value <= r.last;
const overlaps = (a: Range, b: Range) => a.family === b.family && a.first <= b.last && b.first <= a.last;

/**
 * Parses and checks `site.yaml`'s text. Problems carry the site key and line; the site is only
 * returned when the shape matches the schema (the meaning may still be wrong: see `problems`).
 */
export function parseSite(text: string): { site?: Site; problems: SiteProblem[]; doc?: Document } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0];
    return {
      problems: [{
        key: "",
        line: e.linePos?.[0]?.line,
        message: e.message.split("\n")[0],
        fix: "fix the YAML syntax",
      }],
    };
  }
  const data = doc.toJS();
  const validate = validator();
  if (!validate(data)) {
    const problems = (validate.errors ?? []).map((e) => {
      const p = schemaProblem(e);
      return { key: keyOf(p.path), line: lineIn(doc, lines, p.path), message: p.message, fix: p.fix };
    });
    return { problems, doc };
  }
  const site = data as Site;
  return { site, problems: checkSite(site, doc, lines), doc };
}

/** The meaning of a site whose shape is right: every rule but talconfig's own. */
function checkSite(site: Site, doc: Document, lines: LineCounter): SiteProblem[] {
  const problems: SiteProblem[] = [];
  const add = (path: (string | number)[], message: string, fix: string) =>
    problems.push({ key: keyOf(path), line: lineIn(doc, lines, path), message: `${keyOf(path)}: ${message}`, fix });

  const { cluster, lan, bgp, repository } = site;
  if (!LABEL.test(cluster.name)) {
    add(["cluster", "name"], `'${cluster.name}' is not a DNS label`, "use lower-case letters, digits and '-'");
  }
  if (!validDomain(cluster.domain)) {
    add(
      ["cluster", "domain"],
      `'${cluster.domain}' is not a DNS zone`,
      "write it as lower-case labels separated by dots, without a trailing dot or scheme (e.g. lab.example.net)",
    );
  }
  if (!validEmail(cluster.acmeEmail)) {
    add(
      ["cluster", "acmeEmail"],
      `'${cluster.acmeEmail}' is not an e-mail address`,
      "give an address Let's Encrypt can write to, e.g. you@example.net",
    );
  }
  if (!validRepoUrl(repository.url)) {
    add(
      ["repository", "url"],
      `'${repository.url}' is not a Git URL Argo CD can clone`,
      "use https://host/owner/repo.git, ssh://git@host/owner/repo.git or git@host:owner/repo.git",
    );
  }
  if (!validBranch(repository.branch)) {
    add(["repository", "branch"], `'${repository.branch}' is not a branch name`, "use a name git accepts, e.g. main");
  }

  const subnet = parseCidr(lan.subnet);
  const lanNet = subnet?.family === 4 && lan.subnet.includes("/") ? subnet : undefined;
  // An invalid subnet or VIP is reported by talconfig's check (LAN_SUBNET, the VIP), not twice.
  const fixed: { path: (string | number)[]; what: string; ip: { family: 4 | 6; value: bigint } }[] = [];
  const vip = parseIp(lan.vip);
  if (vip) fixed.push({ path: ["lan", "vip"], what: `the VIP ${lan.vip}`, ip: vip });
  site.nodes.forEach((n, i) => {
    const ip = parseIp(n.address);
    if (ip) fixed.push({ path: ["nodes", i, "address"], what: `node '${n.hostname}' (${n.address})`, ip });
  });

  const onLan = (path: (string | number)[], value: string, what: string) => {
    const ip = parseIp(value);
    if (!ip || ip.family !== 4) {
      add(path, `'${value}' is not an IPv4 address`, `give the ${what}'s address on the LAN, e.g. 192.168.1.1`);
      return undefined;
    }
    if (lanNet && !contains(lanNet, ip)) {
      add(path, `${value} is outside lan.subnet ${lan.subnet}`, `give the ${what}'s address on the LAN`);
    }
    const same = fixed.find((f) => f.ip.value === ip.value && f.ip.family === ip.family);
    if (same) add(path, `${value} is ${same.what}`, `the ${what} needs an address of its own`);
    return ip;
  };
  const gw = onLan(["lan", "gateway"], lan.gateway, "router");
  if (gw) fixed.push({ path: ["lan", "gateway"], what: `the router ${lan.gateway}`, ip: gw });
  if (bgp.peerAddress !== lan.gateway) onLan(["bgp", "peerAddress"], bgp.peerAddress, "BGP router");

  for (const key of ["peerASN", "localASN"] as const) {
    const why = asnProblem(bgp[key]);
    if (why) add(["bgp", key], `${bgp[key]} ${why}`, "use a private AS number (64512 to 65534)");
  }

  const macs = new Map<string, number>();
  site.nodes.forEach((n, i) => {
    if (n.mac === undefined) return;
    if (!validMac(n.mac)) {
      add(["nodes", i, "mac"], `'${n.mac}' is not a MAC address`, "write six hex pairs separated by ':'");
    } else if (macs.has(n.mac.toLowerCase())) {
      add(["nodes", i, "mac"], `${n.mac} is also node ${macs.get(n.mac.toLowerCase())! + 1}'s`, "each NIC has its own");
    } else macs.set(n.mac.toLowerCase(), i);
  });

  const pools: { path: (string | number)[]; range: Range; env: "prod" | "dev" }[] = [];
  for (const env of ["prod", "dev"] as const) {
    const lb = site.loadBalancer[env];
    const network = lb.network === undefined ? undefined : parseCidr(lb.network);
    if (lb.network !== undefined && (!network || !lb.network.includes("/"))) {
      add(
        ["loadBalancer", env, "network"],
        `'${lb.network}' is not a CIDR`,
        "give kind's docker network (`docker network inspect kind`), e.g. 172.18.0.0/16",
      );
    }
    const own: Range[] = [];
    lb.pools.forEach((p, i) => {
      const path = ["loadBalancer", env, "pools", i];
      const r = p.includes("/") ? parseCidr(p) : undefined;
      if (!r) {
        add(path, `'${p}' is not a CIDR`, "write the pool as address/prefix, e.g. 10.40.0.0/24");
        return;
      }
      const base = p.split("/")[0];
      if (parseIp(base)!.value !== r.first) {
        add(path, `${p} has host bits set`, `write the network address, ${rangeBase(r)}`);
        return;
      }
      for (const other of pools) {
        if (overlaps(other.range, r)) {
          add(path, `${p} overlaps ${keyOf(other.path)} (${other.range.text})`, "make the pools disjoint");
        }
      }
      for (const f of fixed) {
        if (contains(r, f.ip)) {
          add(
            path,
            `${p} contains ${f.what}: Cilium would hand it to a Service`,
            "move the pool off the addresses the LAN already uses",
          );
        }
      }
      if (env === "dev" && network && !(overlaps(network, r) && r.first >= network.first && r.last <= network.last)) {
        add(
          path,
          `${p} is outside kind's network ${lb.network}: kind's nodes could not answer ARP for it, nothing routes there`,
          "pick a range at the top of kind's docker network, e.g. 172.18.255.192/27",
        );
      }
      pools.push({ path, range: r, env });
      own.push(r);
    });
    for (const svc of ["gateway", "dns"] as const) {
      const path = ["loadBalancer", env, svc];
      const ip = parseIp(lb[svc]);
      if (!ip) {
        add(path, `'${lb[svc]}' is not an IP address`, `give an address inside loadBalancer.${env}.pools`);
      } else if (own.length && !own.some((r) => contains(r, ip))) {
        add(
          path,
          `${lb[svc]} is outside the ${env} pools (${lb.pools.join(", ")}): Cilium would never assign it`,
          `pick an address inside loadBalancer.${env}.pools`,
        );
      }
    }
    if (lb.gateway === lb.dns) {
      add(["loadBalancer", env, "dns"], `${lb.dns} is also the gateway's address`, "give each service its own");
    }
  }
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function rangeBase(r: Range): string {
  if (r.family === 4) {
    return `${[24n, 16n, 8n, 0n].map((s) => String((r.first >> s) & 255n)).join(".")}/${r.text.split("/")[1]}`;
  }
  return r.text;
}
