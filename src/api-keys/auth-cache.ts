// What authentication read for a key and an organization, kept between requests so that on
// PostgreSQL a request does not spend a round trip (and a wait for a pool connection) on it:
// under mixed load that was a fifth of a request's round trips (docs/performance.md).
//
// Kept only while this process learns of every change that could alter an answer: on
// PostgreSQL it is told (src/api-keys/auth-invalidation.ts) — a change empties it, and while
// nobody would tell (not yet listening, or the listener lost its connection) nothing is
// served from it; on SQLite it asks before every use (`counted`): a count that every change
// moves (migration 0008) read anew, and a count other than the last one empties it. An
// answer read while a change was being announced is not kept: `token()` before the read,
// `set(token, …)` after, and a change in between makes the token stale. Entries also expire
// after `ttlMs`, a bound for anything that slipped past every notice.
export class AuthCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  #generation = 0;
  #enabled = false;
  #count: number | undefined;
  private readonly now: () => number;
  readonly counted: boolean;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    options: {
      now?: () => number;
      /** Changes are learnt by reading a count of them before every use (`observe`). */
      counted?: boolean;
    } = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.counted = options.counted ?? false;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get(key: string): V | undefined {
    if (!this.#enabled) return undefined;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Taken before reading an answer that `set` may keep. */
  token(): number {
    return this.#generation;
  }

  /** Keeps `value` unless a change came after `token` was taken, or the cache is off. */
  set(token: number, key: string, value: V): void {
    if (!this.#enabled || token !== this.#generation) return;
    // Oldest first out: a Map iterates in insertion order.
    if (this.#entries.size >= this.maxEntries && !this.#entries.has(key))
      this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, expires: this.now() + this.ttlMs });
  }

  /** The count of changes as just read: if it moved since the last reading, forget everything. */
  observe(count: number): void {
    if (count === this.#count) return;
    this.#count = count;
    this.invalidate();
  }

  /** Something changed: forget everything, and every answer being read now. */
  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }

  /** Changes will be told from now on (or no longer will be). Either way, start empty. */
  setEnabled(enabled: boolean): void {
    this.invalidate();
    this.#enabled = enabled;
  }
}
