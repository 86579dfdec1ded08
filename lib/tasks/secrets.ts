/**
 * The `secrets` task: each subcommand's result turned into output and an exit code.
 * @module
 */

import { type CheckOptions, checkSecrets, formatFindings } from "../secrets/check.ts";
import type { SecretsContext } from "../secrets/context.ts";
import { UsageError } from "../errors.ts";
import { init, rotate } from "../secrets/lifecycle.ts";
import { PATHS } from "../repo.ts";

/** What replacing each re-created file means for a cluster that runs on the old one. */
const REPLACING: Record<string, string> = {
  [PATHS.talosBundle]:
    "a new Talos secret bundle means new cluster CAs: nodes installed with the old bundle no longer " +
    "accept configs generated from this repository (only right before a new cluster, or after `talos reset`)",
  [PATHS.argocdKey]: "a new Argo CD key: an Argo CD already running keeps the old key and cannot decrypt the " +
    "re-encrypted secrets until bootstrap installs the new one",
};

/** `secrets init`; returns the exit code. With `adopt`, asks before replacing what a running cluster uses. */
export async function initCommand(
  ctx: SecretsContext,
  options: { adopt?: boolean; yes?: boolean },
): Promise<number> {
  if (options.adopt && !options.yes) {
    const { locked } = await init(ctx, {});
    const replaced = locked.filter((f) => REPLACING[f.file]);
    if (replaced.length) {
      for (const f of replaced) ctx.ui.warn(`${f.file}: ${REPLACING[f.file]}`);
      if (!(await ctx.ui.confirm?.("Replace them (and re-create the other files listed for your keys)?") ?? false)) {
        throw new UsageError(
          `--adopt would replace ${replaced.map((f) => f.file).join(" and ")}; they were left as they are`,
          "if no cluster runs on them (a new owner's first clone), run `deno task secrets init --adopt --yes`",
        );
      }
    }
  }
  const r = await init(ctx, options);
  const say = ctx.ui.info;
  if (r.createdKey) say(`created your personal age key in ${r.createdKey} (0600): back it up somewhere safe`);
  say(`personal recipient: ${r.personal}`);
  if (r.argocd) say(`Argo CD recipient:  ${r.argocd}${r.argocdCreated ? " (new key, stored encrypted)" : ""}`);
  if (r.configChanged) say(".sops.yaml: recipients updated");
  for (const a of r.adopted) {
    say(
      a.how === "regenerated"
        ? `${a.file}: re-created for your keys`
        : `${a.file}: replaced by an encrypted skeleton; fill in its values with \`deno task secrets edit ${a.file}\``,
    );
  }
  if (r.hook === "installed") say("installed the git pre-commit hook (runs `secrets check --staged`)");
  if (r.hook === "foreign") {
    ctx.ui.warn("a pre-commit hook that is not ours exists; add `deno task secrets check --staged` to it");
  }
  if (r.locked.length && r.adopted.length === 0) {
    say(`${r.locked.length} encrypted file(s) open with none of your keys:`);
    for (const f of r.locked) say(`  ${f.file} (encrypted for ${f.meta.recipients.join(", ")})`);
    say("If they are yours, make the key available (SOPS_AGE_KEY_FILE or the default path) and run init again;");
    say("to take this repository over with your own keys, run `deno task secrets init --adopt`.");
    return 1;
  }
  if (r.adopted.length) {
    say(`commit the re-created files: git add ${r.toCommit.join(" ")} && git commit`);
  }
  if (options.adopt) {
    say("first make the clone yours: your domain, addresses and repository in site.yaml, then `deno task configure`");
  }
  if (!r.changed) say("secrets: nothing to do, everything is set up");
  return 0;
}

/** `secrets check`; returns the exit code. */
export async function checkCommand(ctx: SecretsContext, options: CheckOptions): Promise<number> {
  const findings = await checkSecrets(ctx, options);
  const errors = findings.filter((f) => f.level === "error").length;
  if (findings.length) ctx.ui.info(formatFindings(findings));
  const warnings = findings.length - errors;
  ctx.ui.info(
    errors
      ? `secrets check: ${errors} problem(s)${warnings ? `, ${warnings} warning(s)` : ""}`
      : `secrets check: ok${warnings ? ` (${warnings} warning(s))` : ""}`,
  );
  return errors ? 1 : 0;
}

/** `secrets rotate`; returns the exit code. */
export async function rotateCommand(ctx: SecretsContext, options: { dataKey?: boolean }): Promise<number> {
  const results = await rotate(ctx, options);
  for (const r of results) {
    const changes = [
      ...r.added.map((a) => `+${a}`),
      ...r.removed.map((a) => `-${a}`),
      ...(r.dataKey ? ["new data key"] : []),
    ];
    ctx.ui.info(`${r.file}: ${changes.length ? changes.join(", ") : "recipients unchanged"}`);
    if (r.verified.length) ctx.ui.info(`  opens with: ${r.verified.join(", ")}`);
    if (r.unverified.length) ctx.ui.info(`  not verified (no private key here): ${r.unverified.join(", ")}`);
  }
  ctx.ui.info(`secrets rotate: ${results.length} file(s)`);
  return 0;
}
