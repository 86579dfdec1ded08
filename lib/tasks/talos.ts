/**
 * The `talos` task: each subcommand's result turned into output and an exit code.
 * @module
 */

import { HomelabError } from "../errors.ts";
import { apply, bootstrap, Cluster, kubeconfig, status, upgrade, upgradeKubernetes } from "../talos/cluster.ts";
import { genconfig, gensecret, loadTalconfig, schematicReport, type TalosContext } from "../talos/config.ts";
import { print } from "../ui.ts";

async function cluster(ctx: TalosContext): Promise<Cluster> {
  return new Cluster(ctx, await loadTalconfig(ctx));
}

/** `talos schematic [FILE] [--json]`; fails when talconfig drifts from the schematic. */
export async function schematicCommand(ctx: TalosContext, file: string | undefined, json: boolean): Promise<number> {
  const r = await schematicReport(ctx, file);
  if (json) print(JSON.stringify({ id: r.id, installer: r.installer, iso: r.iso }, null, 2));
  else {
    print(`schematic  ${r.id}`);
    print(`installer  ${r.installer}`);
    print(`iso        ${r.iso}`);
  }
  if (r.drift.length) {
    throw new HomelabError(
      `talos/talconfig.yaml disagrees with the schematic:\n${r.drift.map((d) => `  - ${d}`).join("\n")}`,
      {
        hint:
          "make talconfig's controlPlane.schematic equal to talos/schematic.yaml (and keep machineSpec.secureboot: true)",
      },
    );
  }
  return 0;
}

export async function gensecretCommand(ctx: TalosContext, force: boolean): Promise<number> {
  await gensecret(ctx, { force });
  ctx.ui.info("talos/talsecret.sops.yaml: new cluster secrets, encrypted for your personal key; commit it");
  return 0;
}

export async function genconfigCommand(ctx: TalosContext): Promise<number> {
  for (const f of await genconfig(ctx)) ctx.ui.info(`generated ${f} (0600, git-ignored)`);
  return 0;
}

export async function applyCommand(ctx: TalosContext, options: { node?: string; mode?: string }): Promise<number> {
  const results = await apply(await cluster(ctx), options);
  for (const r of results) {
    ctx.ui.info(`${r.node}: ${r.state}: ${r.action}${r.action === "skipped" ? ` (${r.detail})` : ""}`);
  }
  return results.some((r) => r.action === "skipped") ? 1 : 0;
}

export async function bootstrapCommand(ctx: TalosContext): Promise<number> {
  const r = await bootstrap(await cluster(ctx));
  if (r !== "dry-run") ctx.ui.info(r === "already" ? "etcd: already bootstrapped" : "etcd: bootstrapped");
  return 0;
}

export async function kubeconfigCommand(ctx: TalosContext): Promise<number> {
  const path = await kubeconfig(await cluster(ctx));
  if (!ctx.runner.dryRun) ctx.ui.info(`kubeconfig written to ${path} (0600)`);
  return 0;
}

export async function upgradeCommand(ctx: TalosContext, options: { node?: string }): Promise<number> {
  const report = await schematicReport(ctx);
  if (report.drift.length) {
    throw new HomelabError(`refusing to upgrade: talos/talconfig.yaml disagrees with talos/schematic.yaml`, {
      hint: "run `deno task talos schematic` to see where, and fix talconfig first",
    });
  }
  ctx.ui.info(`installer: ${report.installer}`);
  for (const r of await upgrade(await cluster(ctx), report.installer, options)) {
    ctx.ui.info(`${r.node}: ${r.action === "current" ? `already on ${r.from}` : `${r.action} from ${r.from}`}`);
  }
  return 0;
}

export async function upgradeK8sCommand(ctx: TalosContext, preview: boolean): Promise<number> {
  await upgradeKubernetes(await cluster(ctx), { preview });
  return 0;
}

export async function statusCommand(ctx: TalosContext, options: { node?: string; json?: boolean }): Promise<number> {
  const rows = await status(await cluster(ctx), options);
  if (options.json) {
    print(JSON.stringify(rows, null, 2));
  } else {
    const table = [["node", "address", "state", "talos", "secure boot", "STATE", "EPHEMERAL"]];
    for (const r of rows) {
      table.push([
        r.node,
        r.address,
        r.state === "unreachable" ? `unreachable (${r.detail})` : r.state,
        r.talos ? `${r.talos}${r.talos === r.pinned ? "" : ` (pinned ${r.pinned})`}` : "-",
        r.secureBoot === undefined ? "-" : r.secureBoot ? "enabled" : "DISABLED",
        r.encryption.STATE ?? "-",
        r.encryption.EPHEMERAL ?? "-",
      ]);
    }
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    for (const row of table) print(row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
  }
  return rows.every((r) => r.state !== "unreachable") ? 0 : 1;
}
