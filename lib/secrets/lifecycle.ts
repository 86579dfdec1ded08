/**
 * The secret life cycle, one module per concern: `files.ts` (encrypt, decrypt, edit, which key
 * opens a file), `scaffold.ts` (`secrets new`), `rotate.ts`, `hook.ts` (the pre-commit hook) and
 * `init.ts` (keys, `.sops.yaml`, adopting a clone encrypted for someone else). This module is
 * the one the tasks and tests import.
 *
 * @module
 */

export * from "./files.ts";
export * from "./hook.ts";
export * from "./init.ts";
export * from "./rotate.ts";
export * from "./scaffold.ts";
/** The Talos bundle is the talos code's; re-exported for the callers that took it from here. */
export { writeTalosBundle } from "../talos/bundle.ts";
