/**
 * Errors a task can print as one short paragraph: what went wrong, where, and how to fix it.
 *
 * Library code throws these; `lib/cli.ts` turns them into a message and an exit code. Anything
 * else that escapes is a bug and is printed with its stack.
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

/** Formats an error as the paragraph a task prints. */
export function formatError(err: unknown, verbose = false): string {
  if (err instanceof HomelabError) {
    const lines = [`error: ${err.message}`];
    if (err.hint) lines.push(`hint: ${err.hint}`);
    if (verbose && err.stack) lines.push("", err.stack);
    return lines.join("\n");
  }
  if (err instanceof Error) {
    return `error: ${err.message}\n\n${err.stack ?? ""}`.trimEnd();
  }
  return `error: ${String(err)}`;
}
