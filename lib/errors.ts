/**
 * Errors a task can print as one short paragraph: what went wrong, where, and how to fix it.
 *
 * Library code throws these; `lib/cli.ts` turns them into a message and an exit code. An
 * operating-system error (a read-only folder, a file where a folder belongs) is the machine's
 * state, not a bug: it becomes the same kind of paragraph, naming the path. Anything else that
 * escapes is a bug and is printed with its stack.
 *
 * @module
 */

/** The base of every error the tasks know how to report. */
export class HomelabError extends Error {
  /** A line telling the user how to fix the problem. */
  readonly hint?: string;
  /** The process exit code the task ends with. */
  readonly exitCode: number;

  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** The command line itself is wrong (unknown flag, missing argument, bad value). */
export class UsageError extends HomelabError {
  constructor(message: string, hint?: string) {
    super(message, { hint, exitCode: 2 });
  }
}

/** Input the user gave us (a file, a value) is invalid. Names the file and, where known, the line. */
export class InputError extends HomelabError {
  readonly file?: string;
  readonly line?: number;

  constructor(
    message: string,
    options: { file?: string; line?: number; hint?: string; cause?: unknown } = {},
  ) {
    const where = options.file ? `${options.file}${options.line ? `:${options.line}` : ""}: ` : "";
    super(`${where}${message}`, { hint: options.hint, cause: options.cause });
    this.file = options.file;
    this.line = options.line;
  }
}

/** An operating-system error (Deno's or node:fs's), as far as it says what failed where. */
export interface OsError {
  /** The errno name: `EACCES`, `ENOTDIR`, … */
  readonly code: string;
  /** The operation (`mkdir`, `writefile`, `rename`, …), when the error says it. */
  readonly syscall?: string;
  /** The path, and for a rename or copy the destination. */
  readonly path?: string;
  readonly dest?: string;
}

/** The errno names of a file system's refusals (a network error or a bug is not one of them). */
const FILE_SYSTEM_CODES = new Set([
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOENT",
  "ENOTDIR",
  "EISDIR",
  "EEXIST",
  "ENOTEMPTY",
  "ENOSPC",
  "EDQUOT",
  "ELOOP",
  "ENAMETOOLONG",
  "EBUSY",
  "ETXTBSY",
  "EMFILE",
  "ENFILE",
  "EXDEV",
]);

/**
 * The file-system error in `err`, if it is one: Deno's (`Deno.errors.PermissionDenied`, …,
 * whose message ends in `(os error N): SYSCALL 'PATH'`) or node:fs's (`code`, `syscall`, `path`).
 */
function osErrorOf(err: unknown): OsError | undefined {
  if (!(err instanceof Error) || err instanceof HomelabError) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !FILE_SYSTEM_CODES.has(code)) return undefined;
  const node = err as { syscall?: unknown; path?: unknown; dest?: unknown };
  if (typeof node.path === "string") {
    return {
      code,
      syscall: typeof node.syscall === "string" ? node.syscall : undefined,
      path: node.path,
      dest: typeof node.dest === "string" ? node.dest : undefined,
    };
  }
  const m = /\(os error \d+\)(?:: (\w+)(?: '(.*?)'(?: -> '(.*)')?)?)?$/.exec(err.message);
  return { code, syscall: m?.[1], path: m?.[2], dest: m?.[3] };
}

/** What an operation was about to do, for the first half of the paragraph. */
function attempted(e: OsError): string {
  const path = e.path ?? "a file";
  switch (e.syscall) {
    case "mkdir":
      return `cannot create the folder ${path}`;
    case "writefile":
    case "truncate":
    case "chmod":
    case "chown":
    case "utime":
      return `cannot write ${path}`;
    case "readfile":
    case "readdir":
    case "scandir":
    case "stat":
    case "lstat":
    case "realpath":
      return `cannot read ${path}`;
    case "remove":
    case "rmdir":
    case "unlink":
    case "rm":
      return `cannot remove ${path}`;
    case "rename":
      return `cannot move ${path} to ${e.dest ?? "its new place"}`;
    case "copyfile":
    case "copy":
      return `cannot copy ${path} to ${e.dest ?? "its new place"}`;
    case "symlink":
    case "link":
      return `cannot link ${e.dest ?? path}`;
    case "tmpdir":
    case "mkdtemp":
      return e.path ? `cannot create a temporary folder in ${e.path}` : "cannot create a temporary folder";
    default:
      return e.path ? `cannot use ${path}` : "a file operation failed";
  }
}

/** The target a fix applies to: the destination of a move, else the path. */
function target(e: OsError): string {
  if (e.syscall === "tmpdir" && !e.path) return "the temporary folder (TMPDIR, default /tmp)";
  return e.dest ?? e.path ?? "the path";
}

/** Why, and how to fix it, per errno. */
function reasonAndHint(e: OsError): [string, string] {
  const t = target(e);
  switch (e.code) {
    case "EACCES":
    case "EPERM":
      return [
        "permission denied",
        `check that you may write ${t} and the folder it is in: their owner and mode, \`lsattr -d\` ` +
        "(the immutable flag), and whether the file system is mounted read-only",
      ];
    case "EROFS":
      return ["the file system is read-only", `remount it read-write, or work in a copy on a writable disk`];
    case "ENOENT":
      return ["it (or a folder above it) does not exist", "check the path, or create the folder first"];
    case "ENOTDIR":
      return [
        "a part of the path is a file, not a folder",
        `remove or rename that file, or choose another path than ${t}`,
      ];
    case "EISDIR":
      return ["it is a folder, where a file is expected", `give the path of a file, not the folder ${t}`];
    case "EEXIST":
      return e.syscall === "mkdir"
        ? ["a file of that name is in the way", `remove or rename ${t}, or choose another path`]
        : ["it already exists", `remove or rename ${t}, or choose another name`];
    case "ENOTEMPTY":
      return ["the folder is not empty", `empty or remove ${t} first`];
    case "ENOSPC":
    case "EDQUOT":
      return ["no space left on the device (or over quota)", `free space on the disk that holds ${t}`];
    case "ELOOP":
      return ["too many levels of symbolic links", `check the symbolic links along ${t}`];
    case "ENAMETOOLONG":
      return ["the name is too long", "choose a shorter path"];
    case "EBUSY":
    case "ETXTBSY":
      return ["it is in use", `stop what uses ${t} and try again`];
    case "EMFILE":
    case "ENFILE":
      return ["too many open files", "raise the open-file limit (`ulimit -n`) or close other programs"];
    case "EXDEV":
      return ["it is on another file system", `keep ${t} and its new place on the same file system`];
    default:
      return [e.code, `check ${t}`];
  }
}

/**
 * An operating-system error as one paragraph's parts: what could not be done to which path, why,
 * and how to fix it. Undefined when `err` is not such an error.
 */
export function describeOsError(err: unknown): { message: string; hint: string } | undefined {
  const e = osErrorOf(err);
  if (!e) return undefined;
  const [reason, hint] = reasonAndHint(e);
  return { message: `${attempted(e)}: ${reason}`, hint };
}

/**
 * `err` as the paragraph for `path` when it is an operating-system error (a temporary file's
 * failure reported as its target's), else `err` unchanged.
 */
export function osErrorAt(err: unknown, path: string, syscall: string): unknown {
  const e = osErrorOf(err);
  if (!e) return err;
  const at = { ...e, syscall, path, dest: undefined };
  const [reason, hint] = reasonAndHint(at);
  return new HomelabError(`${attempted(at)}: ${reason}`, { hint, cause: err });
}

/**
 * What a failed read says about the file, to follow its name: "does not exist", "is a folder,
 * not a file", or "cannot be read: " and why (permission denied, a loop of symbolic links, …).
 */
export function unreadable(err: unknown): string {
  const e = osErrorOf(err);
  if (!e) return `cannot be read: ${err instanceof Error ? err.message : String(err)}`;
  if (e.code === "ENOENT") return "does not exist";
  if (e.code === "EISDIR") return "is a folder, not a file";
  if (e.code === "ENOTDIR") return "does not exist (a part of its path is a file, not a folder)";
  return `cannot be read: ${reasonAndHint(e)[0]}`;
}

/** Formats an error as the paragraph a task prints. */
export function formatError(err: unknown, verbose = false): string {
  if (err instanceof HomelabError) {
    const lines = [`error: ${err.message}`];
    if (err.hint) lines.push(`hint: ${err.hint}`);
    if (verbose && err.stack) lines.push("", err.stack);
    return lines.join("\n");
  }
  const os = describeOsError(err);
  if (os) {
    const lines = [`error: ${os.message}`, `hint: ${os.hint}`];
    if (verbose && err instanceof Error && err.stack) lines.push("", err.stack);
    return lines.join("\n");
  }
  if (err instanceof Error) {
    return `error: ${err.message}\n\n${err.stack ?? ""}`.trimEnd();
  }
  return `error: ${String(err)}`;
}
