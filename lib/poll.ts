/**
 * Polling until a deadline: the one loop behind every wait (objects, steps, nodes, CRDs, a local
 * git daemon).
 *
 * ```ts
 * const ready = await poll(async () => (await isReady()) || undefined, { timeoutMs: 60_000, delayMs: 50, factor: 1.5 });
 * if (ready === undefined) throw new Error("timed out");
 * ```
 *
 * @module
 */

/** How long to poll and how long to pause between attempts. */
export interface PollOptions {
  /** Give up once this long has passed since the start and an attempt still found nothing. */
  readonly timeoutMs: number;
  /** The first pause. */
  readonly delayMs: number;
  /** Each pause is this many times the one before (1: always the same). */
  readonly factor?: number;
  /** The longest pause. */
  readonly maxDelayMs?: number;
}

/**
 * Calls `attempt` until it returns a value other than `undefined`, and returns that value; after
 * the deadline, returns `undefined` (the caller says what it waited for and what it saw last).
 * An attempt that throws ends the polling with its error.
 */
export async function poll<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (let delay = options.delayMs;; delay = Math.min(delay * (options.factor ?? 1), options.maxDelayMs ?? Infinity)) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, delay));
  }
}
