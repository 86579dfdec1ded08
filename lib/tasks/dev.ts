/**
 * The output of `deno task dev status`.
 * @module
 */

import { devStatus } from "../bootstrap/dev.ts";
import type { RepoContext } from "../context.ts";

/** Prints what `dev status` found; exit code 0. */
export async function devStatusCommand(ctx: RepoContext): Promise<number> {
  for (const line of await devStatus(ctx)) console.log(line);
  return 0;
}
