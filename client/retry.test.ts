import { describe, expect, it } from "vitest";
import { RetryBudget, backoffMs, parseRetryAfter } from "./retry";

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("RetryBudget", () => {
  it("allows the floor, then one retry per 1/ratio first attempts", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0.1, minRetries: 2, windowMs: 10_000 }, c.now);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 9; i++) {
      budget.deposit();
      expect(budget.tryWithdraw(), `after ${i + 1} deposits`).toBe(false);
    }
    budget.deposit(); // the tenth: 10 × 0.1 earns exactly one retry
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it("holds retries to ratio × requests (+ floor) under sustained failure", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0.1, minRetries: 5, windowMs: 10_000 }, c.now);
    let requests = 0;
    let retries = 0;
    // 1000 calls over 5 s that all fail and would each retry up to 3 times.
    for (let i = 0; i < 1000; i++) {
      budget.deposit();
      requests++;
      for (let r = 0; r < 3 && budget.tryWithdraw(); r++) retries++;
      c.advance(5);
    }
    expect(retries).toBeLessThanOrEqual(5 + 0.1 * requests);
    expect(retries).toBeGreaterThanOrEqual(0.1 * requests); // and it does spend what it earns
  });

  it("forgets what left the window", () => {
    const c = clock();
    const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 1_000 }, c.now);
    for (let i = 0; i < 4; i++) budget.deposit();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    c.advance(1_100); // deposits and withdrawals both expired
    expect(budget.balance()).toBeCloseTo(0, 6);
    budget.deposit();
    budget.deposit();
    expect(budget.tryWithdraw()).toBe(true);
    c.advance(5_000_000); // a long idle gap clears every slot once
    expect(budget.balance()).toBeCloseTo(0, 6);
  });

  it("refuses nonsense options", () => {
    expect(() => new RetryBudget({ ratio: -1 })).toThrow(RangeError);
    expect(() => new RetryBudget({ windowMs: 0 })).toThrow(RangeError);
  });
});

describe("backoffMs", () => {
  it("is full jitter under an exponential ceiling capped at maxMs", () => {
    const opts = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((r) => backoffMs(r, opts, () => 0.999999))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffMs(3, opts, () => 0)).toBe(0);
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(2, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(200);
    }
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP dates", () => {
    expect(parseRetryAfter("5")).toBe(5_000);
    expect(parseRetryAfter(" 0.5 ")).toBe(500);
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(parseRetryAfter("Tue, 01 Dec 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Tue, 01 Dec 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("-3")).toBeUndefined();
  });
});
