/**
 * `deno task configure`: `site.yaml`'s values written into the files that hold them ({@link TARGETS}),
 * each edited in place (comments and layout kept), after every check passed; `--check` reports
 * where a file disagrees. Nothing is written when anything is wrong, and each file is replaced
 * through a temporary file and a rename.
 *
 * @example
 * ```ts
 * const plan = await planConfigure(repoRoot);
 * plan.changes; // [{ file: "talos/talenv.yaml", line: 4, key: "CLUSTER_VIP", from: "192.168.1.40", to: "192.168.1.50", source: "lan.vip" }]
 * await writePlan(repoRoot, plan);
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { type Document, LineCounter, parseAllDocuments, parseDocument } from "yaml";
import { InputError } from "../errors.ts";
import { checkTalconfig, parseEnv, type Problem, problemsError } from "../talos/talconfig.ts";
import { keyOf, lineIn, parseSite, type Site, type SiteProblem } from "./site.ts";
import { applyEdits, deepEqual, setValue, type TextEdit } from "./yamledit.ts";
import { PATHS } from "../repo.ts";

type Path = readonly (string | number)[];

/** A value a YAML file holds: where, and what site.yaml says it is. */
export interface YamlTarget {
  readonly file: string;
  /** The path inside the file's first document; a function when it depends on the file's content. */
  readonly path: Path | ((data: unknown) => Path | undefined);
  readonly value: (site: Site, current: unknown) => unknown;
  /** The site.yaml key the value comes from. */
  readonly source: string;
}

const LB_IPS = "lbipam.cilium.io/ips";
const listenerPath = (name: string) => (data: unknown): Path | undefined => {
  const listeners = (data as { spec?: { listeners?: { name?: string }[] } })?.spec?.listeners ?? [];
  const i = listeners.findIndex((l) => l.name === name);
  return i < 0 ? undefined : ["spec", "listeners", i, "hostname"];
};
const commandPath = (prefix: string) => (data: unknown): Path | undefined => {
  const command = (data as { command?: unknown[] })?.command ?? [];
  const i = command.findIndex((c) => typeof c === "string" && c.startsWith(prefix));
  return i < 0 ? undefined : ["command", i];
};

/** talconfig's nodes with site.yaml's, keeping whatever else a node says (labels, patches …). */
function talNodes(site: Site, current: unknown): unknown {
  const old = Array.isArray(current) ? current as Record<string, unknown>[] : [];
  return site.nodes.map((n, i) => ({
    ...(old[i] ?? {}),
    hostname: n.hostname,
    ipAddress: n.address,
    controlPlane: n.controlPlane,
    installDiskSelector: n.installDiskSelector,
  }));
}

/** Every YAML value configure owns. */
const TARGETS: readonly YamlTarget[] = [
  { file: PATHS.talconfig, path: ["clusterName"], value: (s) => s.cluster.name, source: "cluster.name" },
  { file: PATHS.talconfig, path: ["nodes"], value: talNodes, source: "nodes" },
  { file: PATHS.talenv, path: ["LAN_SUBNET"], value: (s) => s.lan.subnet, source: "lan.subnet" },
  { file: PATHS.talenv, path: ["CLUSTER_VIP"], value: (s) => s.lan.vip, source: "lan.vip" },
  {
    file: "platform/kube-prometheus/values.yaml",
    path: ["kubeEtcd", "endpoints"],
    value: (s) => s.nodes.filter((n) => n.controlPlane).map((n) => n.address),
    source: "nodes[].address (control planes)",
  },
  {
    file: "system/argocd/values.yaml",
    path: ["global", "domain"],
    value: (s) => `argocd.${s.cluster.domain}`,
    source: "cluster.domain",
  },
  {
    file: "system/argocd/httproute.yaml",
    path: ["spec", "hostnames"],
    value: (s) => [`argocd.${s.cluster.domain}`],
    source: "cluster.domain",
  },
  {
    file: "platform/kube-prometheus/httproute.yaml",
    path: ["spec", "hostnames"],
    value: (s) => [`grafana.${s.cluster.domain}`],
    source: "cluster.domain",
  },
  {
    file: "platform/keycloak/httproute.yaml",
    path: ["spec", "hostnames"],
    value: (s) => [`auth.${s.cluster.domain}`],
    source: "cluster.domain",
  },
  {
    file: "platform/keycloak/values.yaml",
    path: commandPath("--hostname="),
    value: (s) => `--hostname=https://auth.${s.cluster.domain}`,
    source: "cluster.domain",
  },
  {
    file: "system/gateway/base/certificate.yaml",
    path: ["spec", "dnsNames"],
    value: (s) => [`*.${s.cluster.domain}`],
    source: "cluster.domain",
  },
  {
    file: "system/gateway/base/gateway.yaml",
    path: listenerPath("https"),
    value: (s) => `*.${s.cluster.domain}`,
    source: "cluster.domain",
  },
  {
    file: "system/k8s-gateway/base/values.yaml",
    path: ["domain"],
    value: (s) => s.cluster.domain,
    source: "cluster.domain",
  },
  {
    file: "system/cert-manager/clusterissuer-letsencrypt.yaml",
    path: ["spec", "acme", "email"],
    value: (s) => s.cluster.acmeEmail,
    source: "cluster.acmeEmail",
  },
  {
    file: "system/cilium/bgp-cluster-config.yaml",
    path: ["spec", "bgpInstances", 0, "localASN"],
    value: (s) => s.bgp.localASN,
    source: "bgp.localASN",
  },
  {
    file: "system/cilium/bgp-cluster-config.yaml",
    path: ["spec", "bgpInstances", 0, "peers", 0, "peerASN"],
    value: (s) => s.bgp.peerASN,
    source: "bgp.peerASN",
  },
  {
    file: "system/cilium/bgp-cluster-config.yaml",
    path: ["spec", "bgpInstances", 0, "peers", 0, "peerAddress"],
    value: (s) => s.bgp.peerAddress,
    source: "bgp.peerAddress",
  },
  ...(["prod", "dev"] as const).flatMap((env): YamlTarget[] => {
    const dir = env === "prod" ? "" : "dev/";
    return [
      {
        file: `system/cilium/${dir}lb-ip-pool.yaml`,
        path: ["spec", "blocks"],
        value: (s) => s.loadBalancer[env].pools.map((cidr) => ({ cidr })),
        source: `loadBalancer.${env}.pools`,
      },
      {
        file: `system/gateway/${dir}lb-ip.yaml`,
        path: ["spec", "infrastructure", "annotations", LB_IPS],
        value: (s) => s.loadBalancer[env].gateway,
        source: `loadBalancer.${env}.gateway`,
      },
      {
        file: `system/k8s-gateway/${dir}lb-ip.yaml`,
        path: ["metadata", "annotations", LB_IPS],
        value: (s) => s.loadBalancer[env].dns,
        source: `loadBalancer.${env}.dns`,
      },
    ];
  }),
];

/** A Jsonnet function's default argument configure owns: `name='…'` in the file's top-level function. */
export interface JsonnetTarget {
  readonly file: string;
  readonly arg: string;
  readonly value: (site: Site) => string;
  readonly source: string;
}

/** The root app's defaults: the repository and branch Argo CD follows. */
const JSONNET_TARGETS: readonly JsonnetTarget[] = ["root/root.jsonnet", "root/main.jsonnet"].flatMap((file) => [
  { file, arg: "repoURL", value: (s: Site) => s.repository.url, source: "repository.url" },
  { file, arg: "revision", value: (s: Site) => s.repository.branch, source: "repository.branch" },
]);

/** Every file configure writes. */
export const OWNED_FILES: readonly string[] = [
  ...new Set([...TARGETS.map((t) => t.file), ...JSONNET_TARGETS.map((t) => t.file)]),
].sort();

/** One value that differs between a file and site.yaml. */
export interface Change {
  readonly file: string;
  readonly line: number;
  readonly key: string;
  readonly from: string;
  readonly to: string;
  readonly source: string;
}

/** What configure would do. */
export interface Plan {
  readonly site: Site;
  /** Files whose text changes: their new text. */
  readonly files: ReadonlyMap<string, string>;
  readonly changes: readonly Change[];
}

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function editYaml(file: string, text: string, targets: readonly YamlTarget[], site: Site, changes: Change[]): string {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const doc = (Array.isArray(docs) ? docs[0] : undefined) as Document | undefined;
  if (!doc || doc.errors.length) {
    throw new InputError(`is not valid YAML${doc?.errors[0] ? `: ${doc.errors[0].message.split("\n")[0]}` : ""}`, {
      file,
      hint: `configure edits it in place; fix it or restore it with \`git checkout -- ${file}\``,
    });
  }
  const data = doc.toJS();
  const edits: TextEdit[] = [];
  for (const t of targets) {
    const path = typeof t.path === "function" ? t.path(data) : t.path;
    const node = path ? doc.getIn(path, true) as { range?: [number]; toJSON(): unknown } | undefined : undefined;
    if (!path || !node?.range) {
      throw new InputError(
        `has no ${typeof t.path === "function" ? "place" : keyOf(t.path)} for site.yaml's ${t.source}`,
        { file, hint: `configure edits that value in place; restore the file with \`git checkout -- ${file}\`` },
      );
    }
    const current = node.toJSON();
    const value = t.value(site, current);
    if (deepEqual(current, value)) continue;
    setValue(text, doc, path, value, edits);
    for (const d of differences(path, current, value)) {
      const at = doc.getIn(d.path, true) as { range?: [number] } | undefined;
      changes.push({
        file,
        line: lines.linePos((at?.range ?? node.range)[0]).line,
        key: keyOf(d.path),
        from: show(d.from),
        to: show(d.to),
        source: t.source,
      });
    }
  }
  return applyEdits(text, edits);
}

/** The leaves where `from` and `to` differ (a whole value where their shapes do). */
function differences(
  path: Path,
  from: unknown,
  to: unknown,
): { path: (string | number)[]; from: unknown; to: unknown }[] {
  if (deepEqual(from, to)) return [];
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
    return from.flatMap((f, i) => differences([...path, i], f, to[i]));
  }
  if (obj(from) && obj(to) && deepEqual(Object.keys(from).sort(), Object.keys(to).sort())) {
    return Object.keys(to).flatMap((k) => differences([...path, k], from[k], to[k]));
  }
  return [{ path: [...path], from, to }];
}

function editJsonnet(file: string, text: string, targets: readonly JsonnetTarget[], site: Site, changes: Change[]) {
  let out = text;
  for (const t of targets) {
    const re = new RegExp(`(^function\\([^)]*\\b${t.arg}=)'((?:[^'\\\\\\n]|\\\\.)*)'`, "m");
    const m = re.exec(out);
    if (!m) {
      throw new InputError(`has no default ${t.arg}='…' in its top-level function for site.yaml's ${t.source}`, {
        file,
        hint: `configure edits that default in place; restore the file with \`git checkout -- ${file}\``,
      });
    }
    const value = t.value(site);
    if (m[2] === value) continue;
    changes.push({
      file,
      line: out.slice(0, m.index).split("\n").length,
      key: `function(${t.arg})`,
      from: m[2],
      to: value,
      source: t.source,
    });
    out = out.slice(0, m.index) + m[1] + `'${value}'` + out.slice(m.index + m[0].length);
  }
  return out;
}

async function readOwned(root: string, file: string): Promise<string> {
  try {
    return await Deno.readTextFile(join(root, file));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InputError("is missing", {
        file,
        hint: `configure writes site.yaml's values into it; restore it with \`git checkout -- ${file}\``,
      });
    }
    throw err;
  }
}

/** Every mistake of site.yaml as one error (nothing has been written). */
export function siteError(problems: readonly (SiteProblem | Problem)[], file: string = PATHS.site): InputError {
  return problemsError(file, problems);
}

/**
 * talconfig's own rules on the talconfig configure would write: a problem about a node's field or
 * the VIP is reported at site.yaml's key; one about what site.yaml does not hold, at talconfig.
 */
function talconfigProblems(
  site: Site,
  siteText: string,
  talconfigText: string,
): { site: SiteProblem[]; talconfig: Problem[] } {
  const { problems } = checkTalconfig(talconfigText, { LAN_SUBNET: site.lan.subnet, CLUSTER_VIP: site.lan.vip });
  const lines = new LineCounter();
  const doc = parseAllDocuments(talconfigText, { lineCounter: lines })[0] as Document;
  const where = new Map<number, (string | number)[]>();
  const nodeLine = (path: Path) => {
    const n = doc.getIn(path, true) as { range?: [number] } | undefined;
    return n?.range ? lines.linePos(n.range[0]).line : undefined;
  };
  site.nodes.forEach((_, i) => {
    const item = nodeLine(["nodes", i]);
    if (item) where.set(item, ["nodes", i]);
    const h = nodeLine(["nodes", i, "hostname"]);
    if (h) where.set(h, ["nodes", i, "hostname"]);
    const a = nodeLine(["nodes", i, "ipAddress"]);
    if (a) where.set(a, ["nodes", i, "address"]);
  });
  const nodesKey = doc.contents && "items" in doc.contents
    ? (doc.contents.items as { key?: { value?: unknown; range?: [number] } }[]).find((p) => p.key?.value === "nodes")
    : undefined;
  if (nodesKey?.key?.range) where.set(lines.linePos(nodesKey.key.range[0]).line, ["nodes"]);
  const siteLines = new LineCounter();
  const siteDoc = parseDocument(siteText, { lineCounter: siteLines });
  const out: SiteProblem[] = [];
  const rest: Problem[] = [];
  for (const p of problems) {
    let path = /control plane/.test(p.message) ? ["nodes"] : p.line ? where.get(p.line) : undefined;
    if (!path && /\bVIP\b/.test(p.message)) path = ["lan", "vip"];
    if (!path && /LAN_SUBNET/.test(p.message) && !/ address /.test(p.message)) path = ["lan", "subnet"];
    if (!path) {
      rest.push(p);
      continue;
    }
    const message = p.message.replaceAll("LAN_SUBNET", "lan.subnet").replaceAll("CLUSTER_VIP", "lan.vip")
      .replaceAll("ipAddress", "address");
    const fix = p.fix.replaceAll("LAN_SUBNET", "lan.subnet").replaceAll("CLUSTER_VIP", "lan.vip")
      .replace(/ in talos\/talenv\.yaml$/, "").replace("networkInterfaces[].vip.ip on the control planes", "lan.vip");
    out.push({
      key: keyOf(path),
      line: lineIn(siteDoc, siteLines, path),
      message: message.startsWith(keyOf(path)) ? message : `${keyOf(path)}: ${message}`,
      fix,
    });
  }
  return { site: out, talconfig: rest };
}

/**
 * Reads site.yaml; throws when its shape is wrong (the schema), returns the other mistakes (which
 * {@link planConfigure} reports with talconfig's).
 */
export async function loadSite(
  root: string,
): Promise<{ site: Site; doc: Document; text: string; problems: SiteProblem[] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(root, PATHS.site));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new InputError("is missing", {
        file: PATHS.site,
        hint: "restore it with `git checkout -- site.yaml`, then put your values in it",
      });
    }
    throw err;
  }
  const { site, problems, doc } = parseSite(text);
  if (!site || !doc) throw siteError(problems);
  return { site, doc, text, problems };
}

/**
 * What configure would change for `site` (site.yaml's own when not given): every file's new text
 * and each value that moves. Throws, before anything is written, when site.yaml or the rules
 * talconfig has find a mistake.
 */
export async function planConfigure(
  root: string,
  given?: { site: Site; text: string; problems?: readonly SiteProblem[] },
): Promise<Plan> {
  const { site, text: siteText, problems = [] } = given ?? await loadSite(root);
  const changes: Change[] = [];
  const files = new Map<string, string>();
  for (const file of OWNED_FILES) {
    const text = await readOwned(root, file);
    const yamlTargets = TARGETS.filter((t) => t.file === file);
    let out = yamlTargets.length === 0 ? text : editYaml(file, text, yamlTargets, site, changes);
    out = editJsonnet(file, out, JSONNET_TARGETS.filter((t) => t.file === file), site, changes);
    if (out !== text) files.set(file, out);
  }
  const talconfig = files.get(PATHS.talconfig) ?? await readOwned(root, PATHS.talconfig);
  const tal = talconfigProblems(site, siteText, talconfig);
  const all = [...problems, ...tal.site].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (all.length) throw siteError(all);
  if (tal.talconfig.length) throw problemsError(PATHS.talconfig, tal.talconfig);
  // talenv.yaml must still read as talhelper reads it.
  parseEnv(files.get(PATHS.talenv) ?? await readOwned(root, PATHS.talenv), PATHS.talenv);
  return { site, files, changes };
}

/**
 * Writes a plan: every new text into a temporary file beside its target first, then each renamed
 * over its target, so an error leaves no file half-written.
 */
export async function writePlan(root: string, plan: Plan): Promise<void> {
  const staged: [string, string][] = [];
  try {
    for (const [file, text] of plan.files) {
      const target = join(root, file);
      const tmp = `${target}.${crypto.randomUUID().slice(0, 8)}.configure.tmp`;
      staged.push([tmp, target]);
      const mode = (await Deno.stat(target)).mode ?? 0o644;
      await Deno.writeTextFile(tmp, text, { mode: mode & 0o777 });
    }
  } catch (err) {
    for (const [tmp] of staged) await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  // Renames within one directory: each file is either the old or the new text, never part of one.
  try {
    for (const [tmp, target] of staged) await Deno.rename(tmp, target);
  } finally {
    for (const [tmp] of staged) await Deno.remove(tmp).catch(() => {});
  }
}

/** One line per change: `file:line: key: from → to (site.yaml source)`. */
export function formatChange(c: Change): string {
  return `${c.file}:${c.line}: ${c.key}: ${c.from} → ${c.to} (site.yaml ${c.source})`;
}
