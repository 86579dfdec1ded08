/**
 * The output of `deno task dev status`.
 * @module
 */

import { devStatus } from "../bootstrap/dev.ts";
import type { RepoContext } from "../context.ts";
import { print } from "../ui.ts";

/** Prints what `dev status` found; exit code 0. */
export async function devStatusCommand(ctx: RepoContext): Promise<number> {
  for (const line of await devStatus(ctx)) print(line);
  return 0;
}
