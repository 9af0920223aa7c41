// When to try again: a retry budget shared by every call of a client (as Finagle's RetryBudget
// and gRPC's retry throttling), exponential backoff with jitter, and Retry-After. Pure.

export interface RetryBudgetOptions {
  /** Retries (and hedges) allowed per first attempt over the window: 0.1 adds at most 10% load. */
  ratio?: number;
  /** Retries allowed per window whatever the traffic, so a quiet client can still retry. */
  minRetries?: number;
  /** How far back first attempts and retries count. */
  windowMs?: number;
}

const SLOTS = 10;

/**
 * Counts first attempts and retries in a sliding window of SLOTS slots. A retry may be spent
 * while retries ≤ minRetries + ratio × first attempts over the window: when the server is
 * failing for everyone, retries stop adding load instead of multiplying it.
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetries: number;
  readonly windowMs: number;
  private readonly slotMs: number;
  private readonly requests = new Array<number>(SLOTS).fill(0);
  private readonly retries = new Array<number>(SLOTS).fill(0);
  /** The slot number (time / slotMs) the ring was last advanced to. */
  private slot = -Infinity;

  constructor(opts: RetryBudgetOptions = {}, private readonly now: () => number = () => Date.now()) {
    this.ratio = opts.ratio ?? 0.1;
    this.minRetries = opts.minRetries ?? 10;
    this.windowMs = opts.windowMs ?? 10_000;
    if (!(this.ratio >= 0) || !(this.minRetries >= 0) || !(this.windowMs > 0)) {
      throw new RangeError("retry budget: ratio and minRetries must be ≥ 0, windowMs > 0");
    }
    this.slotMs = this.windowMs / SLOTS;
  }

  /** A first attempt was made: it earns `ratio` of a retry. */
  deposit(): void {
    this.requests[this.advance()]! += 1;
  }

  /** Spends one retry when the budget has one; false means do not retry. */
  tryWithdraw(): boolean {
    const i = this.advance();
    if (this.balance() < 1) return false;
    this.retries[i]! += 1;
    return true;
  }

  /** Retries left now (fractional: each first attempt adds `ratio`). */
  balance(): number {
    this.advance();
    const sum = (a: number[]) => a.reduce((n, v) => n + v, 0);
    // The epsilon keeps 10 × 0.1 from landing just under 1.
    return this.minRetries + this.ratio * sum(this.requests) - sum(this.retries) + 1e-9;
  }

  /** Clears the slots that left the window; returns the current slot's index. */
  private advance(): number {
    const slot = Math.floor(this.now() / this.slotMs);
    const stale = Math.min(SLOTS, slot - this.slot);
    for (let k = 1; k <= stale; k++) {
      const i = (((slot - stale + k) % SLOTS) + SLOTS) % SLOTS;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    if (slot > this.slot) this.slot = slot;
    return ((slot % SLOTS) + SLOTS) % SLOTS;
  }
}

export interface BackoffOptions {
  /** The first retry waits up to this long; each further one doubles it. */
  baseMs?: number;
  /** No backoff is longer than this. */
  maxMs?: number;
}

/**
 * The wait before retry number `retry` (1 for the first): "full jitter", uniform in
 * [0, min(maxMs, baseMs × 2^(retry-1))], so clients that failed together do not retry together.
 */
export function backoffMs(retry: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = opts.baseMs ?? 50;
  const max = opts.maxMs ?? 2_000;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Retry-After (delta-seconds or an HTTP date) in milliseconds, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP date names its month; Date.parse alone would take "-3" for a year.
  const at = /[a-z]{3}/i.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
