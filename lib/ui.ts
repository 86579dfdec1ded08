/**
 * What tasks print for people: plain lines on standard error (standard output is kept for data
 * such as `--json`), and progress on long waits.
 *
 * @module
 */

/** Where a task's messages go. */
export interface Ui {
  info(line: string): void;
  warn(line: string): void;
  /**
   * Runs `fn` while showing that `label` is under way: a live elapsed time on a terminal, a
   * "still …" line every `every` seconds elsewhere (with `status()`, such as the last state seen);
   * then how long it took.
   */
  progress<T>(label: string, fn: () => Promise<T>, every?: number, status?: () => string): Promise<T>;
  /**
   * Asks a yes/no question on the terminal; false when nobody can answer (no terminal, CI), so
   * the caller refuses and names its `--yes` flag. A Ui without it answers no.
   */
  confirm?(question: string): Promise<boolean>;
}

/** Writes `text` and a newline to standard output: the data a task answers with (reports, JSON, tables). */
export function print(text: string): void {
  // deno-lint-ignore no-console
  console.log(text);
}

/** Writes `text` and a newline to standard error where no {@link Ui} is at hand (a task's failure, at exit). */
export function printError(text: string): void {
  // deno-lint-ignore no-console
  console.error(text);
}

/** Formats seconds as `42s` or `3m05s`. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** A {@link Ui} writing to `write` (standard error by default). */
export function consoleUi(
  options: {
    live?: boolean;
    write?: (text: string) => void;
    now?: () => number;
    /** Answers {@link Ui.confirm}; by default the terminal's user, or no when there is no terminal. */
    answer?: (question: string) => boolean | Promise<boolean>;
  } = {},
): Ui {
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const now = options.now ?? Date.now;
  const live = options.live ?? false;
  // On a terminal, the live line of a progress under way; lines printed meanwhile go above it.
  let current: string | undefined;
  const line = (text: string) => write(live && current !== undefined ? `\r\x1b[2K${text}\n${current}` : `${text}\n`);
  const answer = options.answer ??
    ((question: string) => Deno.stdin.isTerminal() && Deno.stderr.isTerminal() && globalThis.confirm(question));
  return {
    confirm: async (question) => await answer(question),
    info: (text) => line(text),
    warn: (text) => line(`warning: ${text}`),
    async progress(label, fn, every = 30, status) {
      const start = now();
      const more = () => {
        const s = status?.();
        return s ? `; ${s}` : "";
      };
      if (live) current = `${label} …`;
      write(live ? `${label} …` : `${label} …\n`);
      const timer = live
        ? setInterval(() => write(`\r\x1b[2K${current = `${label} … ${duration(now() - start)}${more()}`}`), 1000)
        : setInterval(() => write(`  still ${label} (${duration(now() - start)}${more()})\n`), every * 1000);
      try {
        const result = await fn();
        current = undefined;
        write(`${live ? "\r\x1b[2K" : ""}${label}: done in ${duration(now() - start)}\n`);
        return result;
      } catch (err) {
        current = undefined;
        write(`${live ? "\r\x1b[2K" : ""}${label}: failed after ${duration(now() - start)}\n`);
        throw err;
      } finally {
        clearInterval(timer);
        current = undefined;
      }
    },
  };
}
