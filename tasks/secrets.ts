/**
 * `deno task secrets <init|encrypt|decrypt|edit|new|check|rotate>`: the SOPS + age life cycle.
 * @module
 */

import { isAbsolute, relative, resolve } from "node:path";
import { Command } from "commander";
import { runProgram } from "../lib/cli.ts";
import { loadConfig } from "../lib/config.ts";
import { UsageError } from "../lib/errors.ts";

const config = loadConfig();
const ageKey = Deno.env.get("SOPS_AGE_KEY");
// `deno task` runs in the repository root; paths are meant from where the user typed them.
const userCwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();

/** A path argument, relative to the repository root; paths outside the repository are refused. */
function repoPath(arg: string): string {
  const rel = relative(config.repoRoot, resolve(userCwd, arg));
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw new UsageError(
      `${arg} is outside the repository (${config.repoRoot})`,
      "secret files live in this repository",
    );
  }
  return rel;
}

async function context() {
  const { repoContext } = await import("../lib/context.ts");
  return repoContext(config, { ageKey });
}

const program = new Command("secrets")
  .description(
    "The SOPS + age life cycle: keys, encryption, checks and rotation. Plaintext never lands in the repository.",
  );

program.command("init")
  .description(
    "Make the personal age key (if there is none) and Argo CD's key, write both recipients into .sops.yaml,\n" +
      "install the pre-commit hook. Lists encrypted files no key of yours opens; re-running changes nothing.",
  )
  .option("--adopt", "take over a clone encrypted for someone else: re-create or replace the files you cannot open")
  .option("--yes", "with --adopt: replace the Talos secret bundle and the Argo CD key without asking (scripts)")
  .action(async (opts: { adopt?: boolean; yes?: boolean }) => {
    const { initCommand } = await import("../lib/secrets/tasks.ts");
    Deno.exitCode = await initCommand(await context(), opts);
  });

program.command("encrypt")
  .description("Encrypt plaintext *.sops.yaml files in place, by their .sops.yaml creation rule.")
  .argument("<file...>")
  .action(async (files: string[]) => {
    const { encryptFiles } = await import("../lib/secrets/lifecycle.ts");
    await encryptFiles(await context(), files.map(repoPath));
  });

program.command("decrypt")
  .description("Print a decrypted file on standard output (nothing is written to disk).")
  .argument("<file>")
  .action(async (file: string) => {
    const { decryptFile } = await import("../lib/secrets/lifecycle.ts");
    await decryptFile(await context(), repoPath(file));
  });

program.command("edit")
  .description(
    "Edit an encrypted file in $EDITOR through `sops edit` (its plaintext copy lives in a private temp dir).",
  )
  .argument("<file>")
  .action(async (file: string) => {
    const { editFile } = await import("../lib/secrets/lifecycle.ts");
    await editFile(await context(), repoPath(file));
  });

program.command("new")
  .description(
    "Create COMPONENT/NAME.sops.yaml, an encrypted Secret skeleton, and wire it into the component's KSOPS generator.",
  )
  .argument("<component>", "a component folder: STACK/NAME (e.g. system/cert-manager) or its name")
  .argument("<name>", "the Secret's name")
  .option("--key <key...>", "the Secret's keys (default: value)")
  .action(async (component: string, name: string, opts: { key?: string[] }) => {
    const { newSecret } = await import("../lib/secrets/lifecycle.ts");
    const ctx = await context();
    const file = await newSecret(ctx, component, name, opts.key);
    ctx.ui.info(`${file}: created, encrypted; fill in its values with \`deno task secrets edit ${file}\``);
  });

program.command("check")
  .description(
    "Check that every secret file is encrypted, no plaintext Secret or age private key is in the repository,\n" +
      "and (with a key at hand) every encrypted file decrypts. Lists each problem with its fix.",
  )
  .argument("[file...]", "only these files (default: the whole repository)")
  .option("--staged", "check the staged content of staged files (what the pre-commit hook runs)")
  .option("--no-decrypt", "skip decryption (much faster; no MAC verification)")
  .action(async (files: string[], opts: { staged?: boolean; decrypt: boolean }) => {
    const { checkCommand } = await import("../lib/secrets/tasks.ts");
    Deno.exitCode = await checkCommand(await context(), {
      files: files.length ? files.map(repoPath) : undefined,
      staged: opts.staged,
      decrypt: opts.decrypt,
    });
  });

program.command("rotate")
  .description(
    "After recipients changed in .sops.yaml: update every encrypted file's recipients (sops updatekeys),\n" +
      "then check each file opens with every current recipient whose key is at hand.",
  )
  .option("--data-key", "also re-encrypt every file with a fresh data key (do this when a key is retired or lost)")
  .action(async (opts: { dataKey?: boolean }) => {
    const { rotateCommand } = await import("../lib/secrets/tasks.ts");
    Deno.exitCode = await rotateCommand(await context(), opts);
  });

await runProgram(program, Deno.args, config.verbose);
