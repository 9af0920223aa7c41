// Circuit breaker per upstream and a retry budget. Pure: time comes from an injected clock so
// tests can drive the state machine without waiting.

export type Clock = () => number;

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Failures within `windowMs` that open the breaker (K). */
  failures: number;
  windowMs: number;
  /** How long an open breaker refuses calls before letting one probe through. */
  cooldownMs: number;
}

/**
 * closed → open after K failures within the window; open → half-open once the cooldown has
 * passed; half-open lets exactly one probe through, which closes the breaker on success and
 * reopens it (with a fresh cooldown) on failure.
 */
export class CircuitBreaker {
  private failureTimes: number[] = [];
  private openedAt = 0;
  private opened = false;
  /** Who opened it: only a breaker a health check opened may be closed by one. */
  private openedBy: "traffic" | "health" = "traffic";
  private probing = false;

  constructor(
    readonly options: BreakerOptions,
    private readonly now: Clock = Date.now,
  ) {}

  get state(): BreakerState {
    if (!this.opened) return "closed";
    return this.now() - this.openedAt >= this.options.cooldownMs ? "half-open" : "open";
  }

  /** Whether a call would be let through now, without claiming the half-open probe. */
  available(): boolean {
    const s = this.state;
    return s === "closed" || (s === "half-open" && !this.probing);
  }

  /** Claims permission for one call; in half-open only the first caller gets it. */
  allow(): boolean {
    const s = this.state;
    if (s === "closed") return true;
    if (s === "open" || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.opened = false;
    this.probing = false;
    this.failureTimes = [];
  }

  failure(): void {
    const t = this.now();
    if (this.opened) {
      // A failed probe (or a straggler that started before the breaker opened): restart the
      // cooldown. Live traffic has now failed too, so only live traffic may close it.
      this.openedAt = t;
      this.openedBy = "traffic";
      this.probing = false;
      return;
    }
    this.failureTimes = this.failureTimes.filter((f) => t - f < this.options.windowMs);
    this.failureTimes.push(t);
    if (this.failureTimes.length >= this.options.failures) {
      this.opened = true;
      this.openedBy = "traffic";
      this.openedAt = t;
      this.failureTimes = [];
    }
  }

  /** Opens now, with a fresh cooldown (a health check found the upstream not ready). */
  trip(): void {
    if (!this.opened) this.openedBy = "health";
    this.opened = true;
    this.openedAt = this.now();
    this.probing = false;
    this.failureTimes = [];
  }

  /**
   * A health check found the upstream ready: closes the breaker if a health check opened it. One
   * that live traffic opened (or failed while open) waits for its own half-open call: readiness
   * does not prove that predictions work.
   */
  recover(): void {
    if (this.opened && this.openedBy === "health") this.success();
  }

  /** Milliseconds until an open breaker lets a probe through (0 when it would now). */
  retryInMs(): number {
    if (this.state !== "open") return 0;
    return this.options.cooldownMs - (this.now() - this.openedAt);
  }
}

/** Breakers by upstream name, created on first use. */
export class Breakers {
  private readonly byName = new Map<string, CircuitBreaker>();

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: Clock = Date.now,
  ) {}

  get(name: string): CircuitBreaker {
    let b = this.byName.get(name);
    if (!b) this.byName.set(name, (b = new CircuitBreaker(this.options, this.now)));
    return b;
  }

  states(): Record<string, BreakerState> {
    return Object.fromEntries([...this.byName].map(([name, b]) => [name, b.state]));
  }
}

export interface BudgetOptions {
  /** Retries allowed as a fraction of calls in the window. */
  ratio: number;
  /** Retries always allowed per window, so a quiet PoP can still retry. */
  floor: number;
  windowMs: number;
}

/**
 * Caps retries at `floor + ratio × calls` per window so that when an upstream is failing,
 * retries cannot multiply the load on the rest (a retry storm).
 */
export class RetryBudget {
  private windowStart = -Infinity;
  private calls = 0;
  private retries = 0;

  constructor(
    readonly options: BudgetOptions,
    private readonly now: Clock = Date.now,
  ) {}

  /** Records a first attempt. */
  call(): void {
    this.roll();
    this.calls++;
  }

  /** Claims one retry if the budget has room. */
  tryRetry(): boolean {
    this.roll();
    if (this.retries >= this.options.floor + this.options.ratio * this.calls) return false;
    this.retries++;
    return true;
  }

  private roll(): void {
    const t = this.now();
    if (t - this.windowStart >= this.options.windowMs) {
      this.windowStart = t;
      this.calls = 0;
      this.retries = 0;
    }
  }
}

export interface RetryOptions<T> {
  /** Attempts at most (the first one included). */
  attempts: number;
  budget: RetryBudget;
  /** Only idempotent calls may be retried; anything else gets exactly one attempt. */
  idempotent: boolean;
  /** Whether a result is worth another attempt (e.g. a 5xx); thrown errors always are. */
  retryable?: (result: T) => boolean;
}

/**
 * Runs `attempt(i)` until it gives a non-retryable result, attempts run out, or the budget
 * refuses. Returns the last result, or rethrows the last error.
 */
export async function withRetries<T>(attempt: (i: number) => Promise<T>, options: RetryOptions<T>): Promise<T> {
  const max = options.idempotent ? Math.max(1, options.attempts) : 1;
  options.budget.call();
  for (let i = 0; ; i++) {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await attempt(i) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const again = outcome.ok ? (options.retryable?.(outcome.value) ?? false) : true;
    if (!again || i + 1 >= max || !options.budget.tryRetry()) {
      if (outcome.ok) return outcome.value;
      throw outcome.error;
    }
  }
}
