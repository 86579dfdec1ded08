/**
 * Work that must be undone however a task ends: on success, on failure, and on Ctrl-C or
 * SIGTERM. Temporary directories (build trees, plaintext scratch space) register here.
 *
 * ```ts
 * const dir = await privateTempDir("sops-");
 * // … dir is removed when the task ends, even after Ctrl-C
 * ```
 *
 * @module
 */

type Cleanup = () => void | Promise<void>;

const cleanups = new Set<Cleanup>();
let installed = false;

/** Runs `fn` when the process ends; returns a function that runs it now instead. */
export function onExit(fn: Cleanup): () => Promise<void> {
  installSignalHandlers();
  cleanups.add(fn);
  return async () => {
    if (cleanups.delete(fn)) await fn();
  };
}

let chain: Promise<void> = Promise.resolve();

/**
 * Runs every registered cleanup (the task runner calls this before it exits). A second call
 * while cleanups run (a signal arriving as the task ends) waits for those to finish too.
 */
export function runCleanups(): Promise<void> {
  const pending = [...cleanups].reverse();
  cleanups.clear();
  chain = chain.then(async () => {
    for (const fn of pending) {
      try {
        await fn();
      } catch {
        // Best effort: one failed cleanup must not stop the others.
      }
    }
  });
  return chain;
}

let signalled: number | undefined;

/** The exit code of the signal that interrupted the task (130, 143), if one did. */
export function interruptedWith(): number | undefined {
  return signalled;
}

function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    Deno.addSignalListener(signal, () => {
      signalled ??= code;
      // Work still running may register more cleanups (a scratch directory) while these run:
      // drain until none are left, then exit.
      (async () => {
        do await runCleanups(); while (cleanups.size);
      })().finally(() => Deno.exit(code));
    });
  }
}

/** A new directory only the current user can read (0700), removed when the process ends. */
export async function privateTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o700);
  onExit(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  return dir;
}
