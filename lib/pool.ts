/**
 * A pool: at most `size` tasks at a time, started in the order they are given.
 *
 * ```ts
 * const pool = new Pool(2);
 * await Promise.all(files.map((f) => pool.run(() => build(f))));
 * await pool.each(objects, (o) => apply(o));
 * ```
 *
 * @module
 */

/** At most `n` tasks at a time. */
export class Pool {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly size: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.size) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** Runs `fn` over every item, at most `size` at a time; rejects with the first failure. */
  async each<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    await Promise.all(items.map((item) => this.run(() => fn(item))));
  }
}
