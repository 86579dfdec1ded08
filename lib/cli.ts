/**
 * What every task entry file shares, and the one home of "turn a result into output and an exit
 * code": a task is described as data ({@link TaskCommand}), its action returns an exit code (or
 * nothing for 0), and {@link runTask} parses the command line with commander, prints any error as
 * one short paragraph, and leaves through the one exit path (`lib/cleanup.ts`).
 *
 * Start-up matters (`deno task bench`): loading any npm package costs more than a whole empty
 * task, so this module imports none. `--help` is rendered here from the description alone;
 * commander is loaded only to parse a real command line.
 *
 * ```ts
 * await runTask({
 *   name: "doctor",
 *   description: "Check what the tasks need on this machine.",
 *   options: [{ flags: "--json", description: "print the report as JSON" }],
 *   action: async (opts) => (await import("../lib/doctor.ts")).doctorCommand(config, opts),
 * }, Deno.args, config.verbose);
 * ```
 *
 * @module
 */

import { exitWith, interruptedWith, processTempDir } from "./cleanup.ts";
import { formatError, HomelabError, UsageError } from "./errors.ts";
import { print, printError } from "./ui.ts";

/** One option, in commander's notation (`--for <purposes...>`, `--no-decrypt`, `-q, --quiet`). */
export interface TaskOption {
  readonly flags: string;
  readonly description: string;
  /** The only values allowed; anything else is a usage error listing them. */
  readonly choices?: readonly string[];
  readonly default?: unknown;
  /** Turns the text into the value; throw {@link UsageError} for a bad one. */
  readonly parse?: (value: string) => unknown;
}

/** A positional argument in commander's notation: `<file>`, `[file...]`. */
export interface TaskArgument {
  readonly name: string;
  readonly description?: string;
}

/** The value an action returns: the exit code, or nothing for 0. */
export type ExitCode = number | void;

/** A task or one of its subcommands, as data. */
export interface TaskCommand {
  readonly name: string;
  readonly description: string;
  readonly arguments?: readonly TaskArgument[];
  readonly options?: readonly TaskOption[];
  /** Options after the arguments are passed on (`deno task test -- --filter x`). */
  readonly passThroughOptions?: boolean;
  readonly commands?: readonly TaskCommand[];
  /** Receives the arguments, then the options object, as commander passes them. */
  // deno-lint-ignore no-explicit-any
  readonly action?: (...args: any[]) => Promise<ExitCode> | ExitCode;
}

const HELP_OPTION: TaskOption = { flags: "-h, --help", description: "display help for command" };

/** The command's usage line words: `[options]`, the arguments, `[command]`. */
function usage(cmd: TaskCommand): string {
  return [
    "[options]",
    ...(cmd.commands?.length ? ["[command]"] : []),
    ...(cmd.arguments ?? []).map((a) => a.name),
  ].join(" ");
}

function optionText(o: TaskOption): string {
  const extra: string[] = [];
  if (o.choices) extra.push(`choices: ${o.choices.map((c) => JSON.stringify(c)).join(", ")}`);
  if (o.default !== undefined && o.default !== false) extra.push(`default: ${JSON.stringify(o.default)}`);
  return extra.length ? `${o.description} (${extra.join(", ")})` : o.description;
}

function section(title: string, rows: readonly [string, string][]): string[] {
  if (!rows.length) return [];
  const width = Math.max(...rows.map(([term]) => term.length));
  const pad = " ".repeat(width + 4);
  return [
    "",
    `${title}:`,
    ...rows.map(([term, text]) => `  ${term.padEnd(width)}  ${text.split("\n").join(`\n${pad}`)}`),
  ];
}

/** The help text of `cmd` (reached through `path`, the names above it), in commander's layout. */
function helpText(cmd: TaskCommand, path: readonly string[] = []): string {
  const name = [...path, cmd.name].join(" ");
  const lines = [`Usage: ${name} ${usage(cmd)}`, "", cmd.description];
  lines.push(...section(
    "Arguments",
    (cmd.arguments ?? []).filter((a) => a.description).map((a) => [
      a.name.replace(/[<>[\]]|\.\.\./g, ""),
      a.description!,
    ]),
  ));
  lines.push(...section("Options", [...(cmd.options ?? []), HELP_OPTION].map((o) => [o.flags, optionText(o)])));
  if (cmd.commands?.length) {
    lines.push(...section("Commands", [
      ...cmd.commands.map((c): [string, string] => [
        [c.name, ...(c.options?.length ? ["[options]"] : []), ...(c.arguments ?? []).map((a) => a.name)].join(" "),
        c.description.split("\n")[0],
      ]),
      ["help [command]", "display help for command"],
    ]));
  }
  return lines.join("\n");
}

/** The command whose help `args` asks for, with the names above it; undefined when no help is asked. */
function helpRequest(
  spec: TaskCommand,
  args: readonly string[],
): { cmd: TaskCommand; path: string[] } | undefined {
  let cmd = spec;
  const path: string[] = [];
  let rest = [...args];
  if (rest[0] === "help" && spec.commands?.length) {
    const sub = spec.commands.find((c) => c.name === rest[1]);
    return sub ? { cmd: sub, path: [spec.name] } : { cmd: spec, path };
  }
  const sub = spec.commands?.find((c) => c.name === rest[0]);
  if (sub) {
    path.push(spec.name);
    cmd = sub;
    rest = rest.slice(1);
  }
  const end = rest.indexOf("--");
  const own = end === -1 ? rest : rest.slice(0, end);
  if (own.includes("--help") || own.includes("-h")) return { cmd, path };
  // A task made only of subcommands shows its help when none is named; one with its own action runs it.
  if (spec.commands?.length && !spec.action && args.length === 0) return { cmd: spec, path: [] };
  return undefined;
}

/**
 * Runs a task: `--help` from the description alone; otherwise commander parses `args` and runs
 * the chosen action. Exits 0 on success (or the code the action returned), 2 for a usage error,
 * the error's own code otherwise; a failure is one paragraph on standard error (with its stack
 * when `verbose`).
 */
export async function runTask(spec: TaskCommand, args: string[], verbose: boolean): Promise<never> {
  const help = helpRequest(spec, args);
  if (help) {
    print(helpText(help.cmd, help.path));
    return await exitWith(0);
  }
  const unknown = unknownCommand(spec, args);
  if (unknown) return await exitWith(errorCode(unknown, verbose));
  // Whatever the task and its tools put in TMPDIR goes into the task's own folder: removed when the
  // task ends, and by the next task when this one is killed outright.
  try {
    Deno.env.set("TMPDIR", await processTempDir());
  } catch (err) {
    return await exitWith(errorCode(err, verbose));
  }
  const { Command, Option } = await import("commander");
  let code = 0;
  const act = (fn: NonNullable<TaskCommand["action"]>) =>
  // deno-lint-ignore no-explicit-any
  async (...a: any[]) => {
    const r = await fn(...a);
    if (typeof r === "number") code = r;
  };
  const build = (cmd: TaskCommand, into: InstanceType<typeof Command>) => {
    into.description(cmd.description).exitOverride();
    for (const a of cmd.arguments ?? []) into.argument(a.name, a.description ?? "");
    for (const o of cmd.options ?? []) {
      const option = new Option(o.flags, o.description);
      if (o.choices) option.choices(o.choices);
      if (o.default !== undefined) option.default(o.default);
      if (o.parse) option.argParser(o.parse);
      into.addOption(option);
    }
    if (cmd.passThroughOptions) into.passThroughOptions();
    if (cmd.action) into.action(act(cmd.action));
    for (const sub of cmd.commands ?? []) build(sub, into.command(sub.name));
  };
  const program = new Command(spec.name);
  build(spec, program);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    code = errorCode(err, verbose);
  }
  return await exitWith(code);
}

/**
 * A usage error when `args` starts with a word that names none of the task's subcommands (and
 * the task takes no arguments of its own): `secrets frobnicate`, `dev up`. It lists the valid ones.
 */
function unknownCommand(spec: TaskCommand, args: readonly string[]): UsageError | undefined {
  if (!spec.commands?.length || spec.arguments?.length) return undefined;
  // The first word that is neither an option of the task nor an option's value.
  let word: string | undefined;
  for (let i = 0; i < args.length && word === undefined; i++) {
    const arg = args[i];
    if (arg === "--") return undefined;
    if (!arg.startsWith("-")) {
      word = arg;
      continue;
    }
    const option = spec.options?.find((o) => o.flags.split(/[ ,]+/).includes(arg.split("=")[0]));
    if (option && /[<[]/.test(option.flags) && !arg.includes("=")) i++;
  }
  if (word === undefined || word === "help" || spec.commands.some((c) => c.name === word)) return undefined;
  const names = spec.commands.map((c) => c.name);
  return new UsageError(
    `unknown command '${word}' for ${spec.name}; ${spec.name}'s commands are ${names.join(", ")}`,
    `run \`deno task ${spec.name} --help\` to see what each one does`,
  );
}

/** Prints an error as the paragraph a task ends with and returns the exit code. */
function errorCode(err: unknown, verbose: boolean): number {
  // Interrupted: what failed next (a stopped tool, removed scratch space) is not news.
  const interrupted = interruptedWith();
  if (interrupted !== undefined) return interrupted;
  // Commander has printed its own message (unknown option, missing argument, bad choice).
  if (err && typeof err === "object" && "code" in err && String(err.code).startsWith("commander.")) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  printError(formatError(err, verbose));
  return err instanceof HomelabError ? err.exitCode : 1;
}

/** A whole number of at least `min`, for an option's {@link TaskOption.parse}. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`'${value}' is not a whole number of at least ${min}`);
    return n;
  };
}

/** A duration such as `90s`, `10m` or `1m30s` (a bare number is seconds), in milliseconds, for {@link TaskOption.parse}. */
export function durationMs(value: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(value.trim());
  const ms = m && value.trim() !== ""
    ? ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000
    : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`'${value}' is not a duration`, "write it as 90s, 10m or 1m30s");
  }
  return ms;
}
