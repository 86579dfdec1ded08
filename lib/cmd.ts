/**
 * The one way this repository runs an external program.
 *
 * A command is data: the tool, its arguments, extra environment, standard input, working
 * directory, and which of those are secret. Because it is data it can be printed exactly as it
 * would run (`--dry-run`), logged with secret values replaced by `<redacted>`, and run with a
 * timeout. Each tool runs as the leader of its own process group, and the task's exit path
 * (`lib/cleanup.ts`) stops that whole group, so neither the tool nor anything it started (an
 * editor, a pager) outlives the task, however it ends. Tools get the task's own temporary folder
 * as TMPDIR (`lib/cleanup.ts`), so what they leave there goes with it. A failure becomes a {@link CommandError} carrying the tool, the exit code and the
 * tail of its standard error, with secret values scrubbed from it.
 *
 * ```ts
 * const runner = new Runner({ env: config.env, resolve: toolbox.resolve });
 * const c = cmd("sops", ["--decrypt", file], { secretOutput: true, readOnly: true });
 * render(c); // "sops --decrypt talos/talsecret.sops.yaml"
 * const { stdout } = await runner.run(c);
 * ```
 *
 * @module
 */

import { killGroup, processTempDir, stopProcessGroup, trackProcessGroup } from "./cleanup.ts";
import { HomelabError } from "./errors.ts";
import { findOnPath } from "./path.ts";

/** What a secret value looks like wherever it is printed. */
export const REDACTED = "<redacted>";

/**
 * A value that must never be printed: its string forms are all `<redacted>`; only
 * {@link Secret.reveal} gives the value, and only the runner calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }
}

/** Marks a value as secret. */
export function secret(value: string): Secret {
  return new Secret(value);
}

/** An argument, environment value or standard input: plain or secret. */
export type Arg = string | Secret;

/** An external program to run, as data. */
export interface Command {
  /** The tool's name (a manifest entry such as `sops`, or any executable on PATH). */
  readonly tool: string;
  readonly args: readonly Arg[];
  /** Environment added to (or overriding) the runner's base environment. */
  readonly env?: Readonly<Record<string, Arg>>;
  /** Text written to the tool's standard input. */
  readonly stdin?: Arg;
  readonly cwd?: string;
  /** Standard output holds secrets: it is returned but never logged or put into errors. */
  readonly secretOutput?: boolean;
  /** The command only reads: it runs even in a dry run, so plans can look at the real state. */
  readonly readOnly?: boolean;
  /** Milliseconds before the tool is killed; the runner's default when absent. */
  readonly timeout?: number;
  /** Let the tool write straight to this process's terminal (its output is then not captured). */
  readonly inherit?: boolean;
  /**
   * Run the tool under a guard that kills it and everything it started as soon as this process
   * ends, even when this process is killed outright (SIGKILL), so nothing it does lands after the
   * task is gone. Not with `stdin`.
   */
  readonly guarded?: boolean;
}

/** Builds a {@link Command}. */
export function cmd(tool: string, args: readonly Arg[], options: Omit<Command, "tool" | "args"> = {}): Command {
  return { tool, args, ...options };
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one word for a POSIX shell so that the shell reads it back unchanged.
 *
 * ```ts
 * quote("a b"); // "'a b'"
 * quote("it's"); // "'it'\\''s'"
 * ```
 */
export function quote(word: string): string {
  if (SAFE.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function shown(value: Arg): string {
  return value instanceof Secret ? REDACTED : value;
}

/**
 * The command as a POSIX shell line, secret values replaced by `<redacted>`. Without secrets,
 * pasting the line into a shell runs exactly this command.
 *
 * ```ts
 * render(cmd("talosctl", ["apply-config", "--file", "my node.yaml"], { env: { TALOSCONFIG: "x" } }));
 * // "TALOSCONFIG=x talosctl apply-config --file 'my node.yaml'"
 * ```
 */
export function render(c: Command): string {
  const words: string[] = [];
  for (const [key, value] of Object.entries(c.env ?? {})) words.push(`${key}=${quote(shown(value))}`);
  words.push(quote(c.tool), ...c.args.map((a) => quote(shown(a))));
  let line = words.join(" ");
  if (c.stdin !== undefined) line = `printf '%s' ${quote(shown(c.stdin))} | ${line}`;
  if (c.cwd !== undefined) line = `cd ${quote(c.cwd)} && ${line}`;
  return line;
}

/** Every secret value a command carries, longest first (so scrubbing replaces whole values). */
function secretsOf(c: Command): string[] {
  const values = [...c.args, ...Object.values(c.env ?? {}), ...(c.stdin === undefined ? [] : [c.stdin])]
    .filter((v): v is Secret => v instanceof Secret)
    .map((v) => v.reveal())
    // A tool may echo a value trimmed, or one line of a multi-line one: scrub those forms too.
    .flatMap((v) => [v, v.trim(), ...v.split("\n").map((l) => l.trim()).filter((l) => l.length >= 6)])
    .filter((v) => v.length > 0);
  return [...new Set(values)].sort((a, b) => b.length - a.length);
}

/** Replaces each of `secrets` in `text` with `<redacted>`. */
function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.replaceAll(s, REDACTED);
  return out;
}

/** The last lines of a tool's output, for error messages. */
export function tail(text: string, maxLines = 15, maxChars = 2000): string {
  const lines = text.trimEnd().split("\n");
  let out = lines.slice(-maxLines).join("\n");
  if (out.length > maxChars) out = "…" + out.slice(-maxChars);
  return out;
}

/** What a finished command returned. */
export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A tool exited non-zero, timed out, or could not be started. */
export class CommandError extends HomelabError {
  /** The tool's name as the command gave it. */
  readonly tool: string;
  /** The exit code; 124 after a timeout, 127 when the tool could not be started. */
  readonly code: number;
  /** The end of the tool's standard error, secrets scrubbed. */
  readonly stderrTail: string;
  /** The command line, secrets redacted. */
  readonly command: string;
  readonly timedOut: boolean;

  constructor(
    fields: { tool: string; code: number; stderrTail: string; command: string; timedOut?: boolean },
    hint?: string,
  ) {
    const what = fields.timedOut ? "timed out and was stopped" : `failed with exit code ${fields.code}`;
    const detail = fields.stderrTail ? `\n${indent(fields.stderrTail)}` : "";
    super(`${fields.tool} ${what}: ${fields.command}${detail}`, { hint });
    this.tool = fields.tool;
    this.code = fields.code;
    this.stderrTail = fields.stderrTail;
    this.command = fields.command;
    this.timedOut = fields.timedOut ?? false;
  }
}

function indent(text: string): string {
  return text.split("\n").map((l) => `  | ${l}`).join("\n");
}

/** Thrown by a resolver when a tool cannot be found or has the wrong version. */
export class ToolError extends HomelabError {
  readonly tool: string;
  constructor(tool: string, message: string, hint?: string) {
    super(message, { hint });
    this.tool = tool;
  }
}

/** Turns a tool name into the path of the executable to run. */
export type Resolver = (tool: string) => Promise<string>;

/** How a runner runs commands. */
export interface RunnerOptions {
  /** The whole environment the tools see (the command's `env` is added on top). */
  env: Readonly<Record<string, string>>;
  /** Tool name → executable. Defaults to a plain PATH search of `env.PATH`. */
  resolve?: Resolver;
  /** Print commands that change things instead of running them. */
  dryRun?: boolean;
  /** Receives each command line (redacted, after `$ `) before it runs. */
  log?: (line: string) => void;
  /** Receives, in a dry run, each command that is not run (redacted); `log` when absent. */
  print?: (line: string) => void;
  /** Milliseconds before a tool is killed when the command names no timeout. */
  defaultTimeout?: number;
}

/** Runs {@link Command}s. */
export class Runner {
  readonly dryRun: boolean;
  readonly #options: RunnerOptions;

  constructor(options: RunnerOptions) {
    this.#options = options;
    this.dryRun = options.dryRun ?? false;
  }

  /** The environment tools see. */
  get env(): Readonly<Record<string, string>> {
    return this.#options.env;
  }

  /** Logs a line where this runner logs the commands it runs. */
  log(line: string): void {
    this.#options.log?.(line);
  }

  /** A runner like this one with some options changed. */
  with(options: Partial<RunnerOptions>): Runner {
    return new Runner({ ...this.#options, ...options });
  }

  /** Resolves a tool name to an executable, as this runner would before running it. */
  resolve(tool: string): Promise<string> {
    return this.#options.resolve ? this.#options.resolve(tool) : pathResolver(this.#options.env)(tool);
  }

  /**
   * Runs a command and returns its output. Throws {@link CommandError} on a non-zero exit unless
   * `check` is false (the code is then in the result). In a dry run, a command that is not
   * `readOnly` is only printed, and an empty success is returned.
   */
  async run(c: Command, { check = true }: { check?: boolean } = {}): Promise<Result> {
    const line = render(c);
    if (this.dryRun && !c.readOnly) {
      (this.#options.print ?? this.#options.log)?.(line);
      return { code: 0, stdout: "", stderr: "" };
    }
    const exe = await this.resolve(c.tool);
    this.#options.log?.(`$ ${line}`);

    const env: Record<string, string> = { ...this.#options.env, TMPDIR: await processTempDir() };
    for (const [key, value] of Object.entries(c.env ?? {})) env[key] = reveal(value);
    const timeout = c.timeout ?? this.#options.defaultTimeout;
    const secrets = secretsOf(c);
    let result: Result & { timedOut: boolean };
    try {
      result = await spawn(exe, c.args.map(reveal), {
        env,
        cwd: c.cwd,
        stdin: c.stdin === undefined ? undefined : reveal(c.stdin),
        inherit: c.inherit ?? false,
        guarded: c.guarded ?? false,
        timeout,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new CommandError({ tool: c.tool, code: 127, stderrTail: scrub(message, secrets), command: line });
    }
    const timedOut = result.timedOut;
    if (check && result.code !== 0) {
      const source = result.stderr.trim() || (c.secretOutput ? "" : result.stdout);
      throw new CommandError({
        tool: c.tool,
        code: result.code,
        stderrTail: scrub(tail(source), secrets),
        command: line,
        timedOut,
      });
    }
    return { code: result.code, stdout: result.stdout, stderr: result.stderr };
  }

  /** Runs a command and returns its standard output without the trailing newline. */
  async output(c: Command): Promise<string> {
    return (await this.run(c)).stdout.replace(/\n$/, "");
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Spawns one process as the leader of a new session and process group (`detached`), so the
 * group can be stopped as a whole: on timeout here, and on any exit of the task through
 * `lib/cleanup.ts`. (dax, used here before, neither starts a group nor says the child's pid.)
 * A tool in its own session has no controlling terminal, but with `inherit` it still reads and
 * writes this terminal, which is what `sops edit`'s editor needs; Ctrl-C and a hangup reach this
 * process, which stops the group.
 */
async function spawn(
  exe: string,
  args: string[],
  options: {
    env: Record<string, string>;
    cwd?: string;
    stdin?: string;
    inherit: boolean;
    guarded?: boolean;
    timeout?: number;
  },
): Promise<Result & { timedOut: boolean }> {
  if (options.guarded) {
    // The guard reads its standard input, a pipe from this process, and the tool reads what this
    // process's standard input is (the terminal, for an editor).
    const bash = (await findOnPath("bash", options.env.PATH ?? "")) ?? "/bin/bash";
    args = ["-c", KILL_GROUP_GUARD, "guard", options.inherit ? ownStdin() : "/dev/null", exe, ...args];
    exe = bash;
  }
  const child = new Deno.Command(exe, {
    args,
    env: options.env,
    clearEnv: true,
    cwd: options.cwd,
    stdin: options.stdin !== undefined || options.guarded ? "piped" : options.inherit ? "inherit" : "null",
    stdout: options.inherit ? "inherit" : "piped",
    stderr: options.inherit ? "inherit" : "piped",
    detached: true,
  }).spawn();
  // A guard's pipe stays open, written to never, until the tool has ended (or this process has).
  const guardPipe = options.guarded ? child.stdin.getWriter() : undefined;
  const exited = child.status.finally(() => guardPipe?.close().catch(() => {}));
  const untrack = trackProcessGroup(child.pid, exited);
  let timedOut = false;
  const timer = options.timeout === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    stopProcessGroup(child.pid, exited, 2000);
  }, options.timeout);
  try {
    const writing = options.stdin === undefined ? Promise.resolve() : (async () => {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(encoder.encode(options.stdin));
        await writer.close();
      } catch {
        // The tool exited without reading all of it; its exit code says what happened.
      }
    })();
    const [out] = await Promise.all([
      options.inherit
        ? exited.then((s) => ({ ...s, stdout: new Uint8Array(), stderr: new Uint8Array() }))
        : child.output(),
      writing,
    ]);
    // Whatever the tool left running in its group (a daemonised helper) ends with it.
    await killGroup(child.pid);
    const code = timedOut ? 124 : out.signal ? 128 + signalNumber(out.signal) : out.code;
    return { code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr), timedOut };
  } finally {
    clearTimeout(timer);
    untrack();
  }
}

/**
 * Runs a program (its arguments after the file its standard input comes from) in the guard's
 * process group, and kills the whole group (the program and whatever it started, an editor say)
 * as soon as the guard's standard input closes: the task ended in any way, even SIGKILL.
 */
const KILL_GROUP_GUARD = `input=$1; shift
exec 3<&0
"$@" <"$input" 3<&- &
child=$!
{ while read -r _ <&3; do :; done; kill -KILL 0; } &
watch=$!
wait "$child"; code=$?
kill "$watch" 2>/dev/null
exit "$code"`;

/** The file this process's standard input is (a terminal, a file), or /dev/null for a pipe or nothing. */
function ownStdin(): string {
  try {
    const target = Deno.readLinkSync("/proc/self/fd/0");
    return target.startsWith("/") ? target : "/dev/null";
  } catch {
    return Deno.stdin.isTerminal() ? "/dev/tty" : "/dev/null";
  }
}

function signalNumber(signal: Deno.Signal): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}

function reveal(value: Arg): string {
  return value instanceof Secret ? value.reveal() : value;
}

/** A resolver that searches `env.PATH` and fails with a {@link ToolError} naming the tool. */
function pathResolver(env: Readonly<Record<string, string>>): Resolver {
  return async (tool) => {
    const found = await findOnPath(tool, env.PATH ?? "");
    if (!found) throw new ToolError(tool, `${tool} was not found on PATH`, `install ${tool} and try again`);
    return found;
  };
}

/**
 * Runs a program (its arguments after the pid file) and stops it with TERM as soon as this
 * shell's standard input closes: the parent ended in any way, even SIGKILL, or asked for it.
 * The program's process ID goes to the pid file, for a KILL when it ignores TERM.
 */
const GUARD = `pidfile=$1; shift
exec 3<&0
"$@" </dev/null &
child=$!
echo "$child" > "$pidfile"
{ while read -r _ <&3; do :; done; kill -TERM "$child" 2>/dev/null; } &
guard=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done
kill "$guard" 2>/dev/null
exit "$code"`;

/** A program started in the background by {@link startDaemon}: a server such as etcd. */
export interface Daemon {
  /** The command's tool name. */
  readonly name: string;
  /** The process ID of the guard that owns the program. */
  readonly pid: number;
  /** Where the program's standard output and error go. */
  readonly logFile: string;
  /** Resolves with the exit code when the program has ended (for whatever reason). */
  readonly exited: Promise<number>;
  /** Stops the program (TERM, then KILL after `graceMs`) and waits for it to end. */
  stop(graceMs?: number): Promise<number>;
}

/**
 * Starts `c` in the background with its output appended to `logFile`, and returns at once.
 *
 * The program cannot outlive this process: it runs under a small guard that stops it as soon
 * as this process's pipe to it closes, which happens however this process ends (Ctrl-C,
 * SIGTERM, SIGHUP, SIGKILL, a crash).
 *
 * ```ts
 * const etcd = await startDaemon(runner, cmd("etcd", ["--data-dir", dir]), `${dir}/etcd.log`);
 * await etcd.stop();
 * ```
 */
export async function startDaemon(runner: Runner, c: Command, logFile: string): Promise<Daemon> {
  const exe = await runner.resolve(c.tool);
  runner.log(`$ ${render(c)} &`);
  const env: Record<string, string> = { ...runner.env, TMPDIR: await processTempDir() };
  for (const [key, value] of Object.entries(c.env ?? {})) env[key] = reveal(value);
  const pidFile = `${logFile}.pid`;
  const log = await Deno.open(logFile, { create: true, append: true, mode: 0o600 });
  const bash = (await findOnPath("bash", env.PATH ?? "")) ?? "/bin/bash";
  const child = new Deno.Command(bash, {
    args: ["-c", GUARD, "guard", pidFile, exe, ...c.args.map(reveal)],
    env,
    clearEnv: true,
    cwd: c.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = log.writable.getWriter();
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await writer.write(chunk);
  };
  const copied = Promise.all([copy(child.stdout), copy(child.stderr)]).finally(() => writer.close().catch(() => {}));
  const stdin = child.stdin.getWriter();
  const exited = child.status.then(async (s) => {
    await copied.catch(() => {});
    await stdin.close().catch(() => {});
    await Deno.remove(pidFile).catch(() => {});
    return s.code;
  });
  const signal = (pid: number, sig: Deno.Signal) => {
    try {
      Deno.kill(pid, sig);
    } catch {
      // already ended
    }
  };
  let stopping: Promise<number> | undefined;
  return {
    name: c.tool,
    pid: child.pid,
    logFile,
    exited,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        const program = Number(await Deno.readTextFile(pidFile).catch(() => ""));
        await stdin.close().catch(() => {});
        signal(child.pid, "SIGTERM");
        const timer = setTimeout(() => {
          if (program > 0) signal(program, "SIGKILL");
          signal(child.pid, "SIGKILL");
        }, graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
