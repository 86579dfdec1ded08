/**
 * The git pre-commit hook that runs `secrets check --staged`.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { cmd } from "../cmd.ts";
import { HomelabError } from "../errors.ts";
import { type SecretsContext } from "./context.ts";

/** The pre-commit hook `init` installs. */
export const HOOK_MARKER = "# homelab: secrets check (installed by `deno task secrets init`)";
const HOOK = `#!/bin/sh
${HOOK_MARKER}
# Refuses a commit that would add a plaintext secret or an unencrypted *.sops.yaml.
cd "$(git rev-parse --show-toplevel)" || exit 1
command -v deno >/dev/null 2>&1 || PATH="$(scripts/get-deno):$PATH"
exec deno run -A tasks/secrets.ts check --staged
`;

/** Installs the pre-commit hook; leaves a hook of someone else's alone. */
export async function installHook(ctx: SecretsContext): Promise<"installed" | "present" | "foreign" | "no-git"> {
  const r = await ctx.runner.run(cmd("git", ["rev-parse", "--git-path", "hooks"], { cwd: ctx.root, readOnly: true }), {
    check: false,
  });
  if (r.code !== 0) return "no-git";
  // git answers relative to the root, or absolute (core.hooksPath=/abs/dir, a linked worktree).
  const hooks = resolve(ctx.root, r.stdout.trim());
  const path = join(hooks, "pre-commit");
  const existing = await Deno.readTextFile(path).catch(() => undefined);
  if (existing === HOOK) return "present";
  if (existing !== undefined && !existing.includes(HOOK_MARKER)) return "foreign";
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, HOOK, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  // Make sure git runs this very file: ask it again where the pre-commit hook lives.
  const check = await ctx.runner.output(
    cmd("git", ["rev-parse", "--git-path", "hooks/pre-commit"], { cwd: ctx.root, readOnly: true }),
  );
  if (resolve(ctx.root, check) !== path || (await Deno.readTextFile(path)) !== HOOK) {
    throw new HomelabError(`the pre-commit hook was written to ${path}, but git looks for it at ${check}`, {
      hint: "check `git config core.hooksPath`, then run `deno task secrets init` again",
    });
  }
  return "installed";
}
