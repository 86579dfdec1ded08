/**
 * The `configure` task: site.yaml checked, its values written where they belong (or, with
 * `check`, every disagreement named), the changes printed one per line on standard output.
 *
 * @module
 */

import { join } from "node:path";
import { parseDocument } from "yaml";
import type { Config } from "../config.ts";
import { InputError } from "../errors.ts";
import { print, type Ui } from "../ui.ts";
import { type Change, formatChange, loadSite, planConfigure, siteError, writePlan } from "../site/configure.ts";
import { isExample, parseSite, type Site } from "../site/site.ts";
import { applyEdits, setValue, type TextEdit } from "../site/yamledit.ts";
import { exists } from "../files.ts";
import { PATHS } from "../repo.ts";

/** How configure was asked to run. */
export interface ConfigureOptions {
  readonly check?: boolean;
  readonly dryRun?: boolean;
  /**
   * Asks for one value with the current one as default; undefined when nobody can answer (no
   * terminal, CI), in which case configure says what to edit instead.
   */
  readonly ask?: (question: string, current: string) => string | undefined;
}

/** The keys a new owner sets, in the order they are asked for. */
const QUESTIONS: readonly { path: (string | number)[]; question: string; list?: boolean; number?: boolean }[] = [
  { path: ["cluster", "name"], question: "Cluster name" },
  { path: ["cluster", "domain"], question: "DNS zone for the services (argocd.ZONE, grafana.ZONE …)" },
  { path: ["cluster", "acmeEmail"], question: "E-mail for Let's Encrypt" },
  { path: ["lan", "subnet"], question: "The nodes' LAN (CIDR)" },
  { path: ["lan", "gateway"], question: "The router's address" },
  { path: ["lan", "vip"], question: "A free LAN address for the Kubernetes API (VIP)" },
  { path: ["bgp", "peerAddress"], question: "The BGP router's address" },
  { path: ["bgp", "peerASN"], question: "The router's AS number", number: true },
  { path: ["bgp", "localASN"], question: "The cluster's AS number", number: true },
  { path: ["loadBalancer", "prod", "pools"], question: "LoadBalancer pools (CIDRs, comma-separated)", list: true },
  { path: ["loadBalancer", "prod", "gateway"], question: "The Gateway's address (inside a pool)" },
  { path: ["loadBalancer", "prod", "dns"], question: "The DNS server's address (inside a pool)" },
  { path: ["repository", "url"], question: "The Git URL Argo CD follows (your fork)" },
  { path: ["repository", "branch"], question: "Its branch" },
];

/** site.yaml's text with the answers in place (comments and layout kept); undefined when nobody answers. */
export function askSite(text: string, site: Site, ask: NonNullable<ConfigureOptions["ask"]>): string | undefined {
  const doc = parseDocument(text);
  const edits: TextEdit[] = [];
  const questions = [
    ...QUESTIONS.slice(0, 6),
    ...site.nodes.flatMap((n, i) => [
      { path: ["nodes", i, "hostname"], question: `Node ${i + 1}: hostname` },
      { path: ["nodes", i, "address"], question: `Node ${i + 1} (${n.hostname}): address` },
    ]),
    ...QUESTIONS.slice(6),
  ];
  for (const q of questions) {
    const current = q.path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], site);
    const shown = Array.isArray(current) ? current.join(", ") : String(current);
    const answer = ask(q.question, shown);
    if (answer === undefined) return undefined;
    const given = answer.trim() || shown;
    const value = "list" in q && q.list
      ? given.split(",").map((s) => s.trim()).filter(Boolean)
      : "number" in q && q.number && /^\d+$/.test(given)
      ? Number(given)
      : given;
    setValue(text, doc, q.path, value, edits);
  }
  return applyEdits(text, edits);
}

/** `deno task configure`; returns the exit code. */
export async function configureCommand(config: Config, options: ConfigureOptions, ui: Ui): Promise<number> {
  const root = config.repoRoot;
  let { site, text, problems } = await loadSite(root);
  let newSite: string | undefined;
  if (isExample(site) && !options.check) {
    const answered = options.dryRun || !options.ask ? undefined : askSite(text, site, options.ask);
    if (answered === undefined) {
      ui.warn(
        `${PATHS.site} still holds the example values (cluster.domain ${site.cluster.domain}, repository.url ` +
          `${site.repository.url}): put yours in it (cluster, lan, nodes, bgp, loadBalancer.prod, repository), ` +
          "then run `deno task configure` again",
      );
    } else if (answered !== text) {
      const parsed = parseSite(answered);
      if (!parsed.site) throw unsaved(siteError(parsed.problems));
      newSite = answered;
      site = parsed.site;
      text = answered;
      problems = parsed.problems;
    }
  }
  const plan = await planConfigure(root, { site, text, problems }).catch((err) => {
    throw newSite !== undefined && err instanceof InputError ? unsaved(err) : err;
  });
  if (newSite !== undefined) (plan.files as Map<string, string>).set(PATHS.site, newSite);
  if (options.check) {
    for (const c of plan.changes) print(drift(c));
    if (plan.changes.length) {
      ui.warn(
        `${plan.changes.length} value(s) disagree with ${PATHS.site}: run \`deno task configure\` ` +
          "(or put the value you want in site.yaml first)",
      );
      return 1;
    }
    ui.info(`every file agrees with ${PATHS.site}`);
    return 0;
  }
  for (const c of plan.changes) print(formatChange(c));
  if (options.dryRun) {
    ui.info(
      plan.changes.length ? `${plan.changes.length} change(s); nothing written (--dry-run)` : "nothing to change",
    );
    return 0;
  }
  if (plan.files.size === 0) {
    ui.info(`nothing to change: every file agrees with ${PATHS.site}`);
    return 0;
  }
  await writePlan(root, plan);
  ui.info(
    `wrote ${plan.files.size} file(s); review with \`git diff\`, then \`deno task check\` and commit`,
  );
  return 0;
}

/** A mistake in the answers: the same paragraph, saying that nothing (site.yaml included) was written. */
function unsaved(err: InputError): InputError {
  return new InputError(err.message.replace(/^site\.yaml: /, ""), {
    file: PATHS.site,
    hint: "nothing was written, your answers neither; run `deno task configure` again, or put them in site.yaml",
  });
}

/** A `--check` line: where a file disagrees and what site.yaml says. */
export function drift(c: Change): string {
  return `${c.file}:${c.line}: ${c.key} is ${c.from}, but site.yaml ${c.source} says ${c.to}`;
}

/**
 * The drift of the tree from site.yaml, one line each (for `deno task check`); throws when
 * site.yaml is wrong; undefined for a tree without site.yaml (a fixture of a few stacks).
 */
export async function siteDrift(root: string): Promise<string[] | undefined> {
  const present = await exists(join(root, PATHS.site));
  return present ? (await planConfigure(root)).changes.map(drift) : undefined;
}
