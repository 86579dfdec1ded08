/**
 * The one exit path: work that must be undone however a task ends (on success, on failure, on
 * Ctrl-C, SIGTERM or a hangup), and the child processes that must not outlive it.
 *
 * On the way out, every child process group still running is stopped first (SIGTERM, then
 * SIGKILL), so no tool writes anything after the task has ended; then the registered cleanups
 * (temporary directories, plaintext scratch space) run, newest first.
 *
 * ```ts
 * const dir = await privateTempDir("sops-");
 * // … dir is removed when the task ends, even after Ctrl-C or a closed terminal
 * ```
 *
 * @module
 */

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();
/** Running child process groups (their leader's pid) and a promise that settles when the leader exits. */
const children = new Map<number, Promise<unknown>>();
let installed = false;

/** The signals a task ends on, and the exit code for each (128 + the signal number). */
const EXIT_SIGNALS = [["SIGHUP", 129], ["SIGINT", 130], ["SIGTERM", 143]] as const;

/** Set once the task is on its way out; work registered after that runs at once. */
let closing = false;
/** Cleanups that were registered while the task was already ending. */
const late: Promise<unknown>[] = [];

/** Runs `fn` when the process ends; returns a function that runs it now instead. */
export function onExit(fn: Cleanup): () => Promise<void> {
  installSignalHandlers();
  if (closing) {
    // A scratch directory made while a Ctrl-C is being handled: undo it before the exit.
    late.push(Promise.resolve().then(fn).catch(() => {}));
    return () => Promise.resolve();
  }
  cleanups.add(fn);
  return async () => {
    if (cleanups.delete(fn)) await fn();
  };
}

/**
 * Tracks a child that leads its own process group (spawned detached); it and everything it
 * started are stopped when the task ends. Returns the function to call once the child has exited.
 */
export function trackProcessGroup(pid: number, exited: Promise<unknown>): () => void {
  installSignalHandlers();
  // (A child started while the task ends is a cleanup's own tool, `git worktree remove` say:
  // the cleanup waits for it, so it is not stopped here.)
  children.set(pid, exited.catch(() => {}));
  return () => {
    children.delete(pid);
  };
}

/** Sends `signal` to the process group led by `pid`; false when the group is gone. */
function signalGroup(pid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the process group led by `pid`: SIGTERM, up to `graceMs` for the leader to exit, then
 * SIGKILL for whatever of the group is left (an editor sops started, for example).
 */
export async function stopProcessGroup(pid: number, exited: Promise<unknown>, graceMs = 1000): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([exited.catch(() => {}), new Promise((r) => timer = setTimeout(r, graceMs))]);
  clearTimeout(timer);
  await killGroup(pid);
}

/**
 * SIGKILLs what is left of the process group led by `pid` and waits (up to `maxMs`) until no
 * member is left to signal, so that the caller can rely on the group being gone.
 */
export async function killGroup(pid: number, maxMs = 1000): Promise<void> {
  if (!signalGroup(pid, "SIGKILL")) return;
  for (let waited = 0; waited < maxMs && signalGroup(pid, "SIGCONT"); waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

let chain: Promise<void> = Promise.resolve();

/**
 * Stops every tracked child process group, then runs every registered cleanup. A second call
 * while cleanups run (a signal arriving as the task ends) waits for those to finish too.
 */
export function runCleanups(): Promise<void> {
  stopping++;
  const running = [...children.entries()];
  children.clear();
  const pending = [...cleanups].reverse();
  cleanups.clear();
  chain = chain.then(async () => {
    await Promise.all(running.map(([pid, exited]) => stopProcessGroup(pid, exited)));
    for (const fn of pending) {
      try {
        await fn();
      } catch {
        // Best effort: one failed cleanup must not stop the others.
      }
    }
  }).finally(() => stopping--);
  return chain;
}

/** Runs of {@link runCleanups} under way. */
let stopping = 0;

/**
 * Whether the exit path is under way: work that fails now may have failed only because its tool
 * was stopped (a cleanup that reports where the work stood should still report).
 */
export function exitUnderWay(): boolean {
  return stopping > 0;
}

let signalled: number | undefined;

/** The exit code of the signal that interrupted the task (129, 130, 143), if one did. */
export function interruptedWith(): number | undefined {
  return signalled;
}

let exiting: Promise<void> | undefined;

/**
 * Ends the process through the one exit path: stop children, run cleanups, exit with `code`. A
 * signal that arrives while this runs waits for the same cleanups instead of cutting them short.
 */
export async function exitWith(code: number): Promise<never> {
  closing = true;
  exiting ??= runCleanups();
  await exiting;
  await Promise.all(late);
  Deno.exit(signalled ?? code);
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of EXIT_SIGNALS) {
    Deno.addSignalListener(signal, () => {
      signalled ??= code;
      exitWith(code);
    });
  }
}

/** Private directories not removed yet: removed on unload too, when no task exit path runs (tests). */
const privateDirs = new Set<string>();
let unloadHook = false;

function removeOnUnload(dir: string): void {
  privateDirs.add(dir);
  if (!unloadHook) {
    unloadHook = true;
    globalThis.addEventListener("unload", () => {
      for (const d of [...privateDirs].reverse()) {
        try {
          Deno.removeSync(d, { recursive: true });
        } catch {
          // gone already
        }
      }
    });
  }
}

/** What a process's own folder is called: its pid and start time, so a later process can tell it died. */
const PROCESS_DIR = /^homelab-(\d+)-(\d+)-/;

/**
 * When process `pid` started (clock ticks since boot, from `/proc/PID/stat`); undefined when it
 * does not run, or the system does not say. With the pid, this names a process uniquely: a
 * reused pid has another start time.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime 22.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Removes the folders that processes which have died left in `base` (killed outright, so their
 * exit path never ran): each is named after its owner's pid and start time.
 */
async function sweepStaleDirs(base: string): Promise<string[]> {
  if (processStartTime(Deno.pid) === undefined) return []; // no /proc: cannot tell the dead from the living
  const swept: string[] = [];
  for await (const e of Deno.readDir(base)) {
    const m = PROCESS_DIR.exec(e.name);
    if (!m || !e.isDirectory || processStartTime(Number(m[1])) === m[2]) continue;
    const path = `${base}/${e.name}`;
    const stat = await Deno.lstat(path).catch(() => undefined);
    if (stat?.uid !== Deno.uid()) continue; // another user's
    await Deno.remove(path, { recursive: true }).then(() => swept.push(path), () => {});
  }
  return swept;
}

let processDir: Promise<string> | undefined;

/**
 * TMPDIR without the process folders it is inside: a task gives its children its own folder as
 * TMPDIR, and a child that is itself a task (`deno test` under `deno task test`) puts its folder
 * beside its parent's, not inside it, so paths stay short enough for a Unix socket (108 bytes).
 */
function tempRoot(): string {
  let base = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/";
  for (;;) {
    const cut = base.lastIndexOf("/");
    if (cut < 0 || !PROCESS_DIR.test(base.slice(cut + 1))) return base;
    base = base.slice(0, cut) || "/";
  }
}

/**
 * This process's own temporary folder (0700, in TMPDIR, named after its pid and start time), made
 * on first use after sweeping the folders of dead processes. Every private temporary folder and
 * the TMPDIR of every tool this process runs is inside it; it is removed when the process ends,
 * and by the next start when the process was killed outright.
 */
export function processTempDir(): Promise<string> {
  processDir ??= processFolderIn(tempRoot());
  return processDir;
}

let socketFolder: Promise<string> | undefined;

/** Longest path a Unix socket address holds on Linux (108 bytes with the terminating NUL). */
export const MAX_SOCKET_PATH = 107;

/**
 * A private folder for Unix sockets named up to `room` bytes: the process's own folder, or, when
 * its path leaves no room (a deep TMPDIR), a folder of the same kind directly in /tmp — removed
 * the same ways.
 */
export async function socketDir(room = 32): Promise<string> {
  const dir = await processTempDir();
  if (new TextEncoder().encode(dir).length + 1 + room <= MAX_SOCKET_PATH) return dir;
  socketFolder ??= processFolderIn("/tmp");
  return await socketFolder;
}

/** Makes a process folder in `base`, after sweeping the folders dead processes left there. */
async function processFolderIn(base: string): Promise<string> {
  await sweepStaleDirs(base).catch(() => {});
  // Registered first, so it is removed last, after what is inside it.
  return await privateDirIn(base, `homelab-${Deno.pid}-${processStartTime(Deno.pid) ?? 0}-`);
}

/**
 * A new 0700 directory in `base`, removed when the process ends: registered before anything else
 * is awaited, so a Ctrl-C from then on removes it.
 */
async function privateDirIn(base: string, prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: base, prefix });
  removeOnUnload(dir);
  onExit(async () => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    privateDirs.delete(dir);
  });
  await Deno.chmod(dir, 0o700);
  return dir;
}

/** A new directory only the current user can read (0700), removed when the process ends. */
export async function privateTempDir(prefix: string): Promise<string> {
  return await privateDirIn(await processTempDir(), prefix);
}
