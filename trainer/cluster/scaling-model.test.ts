import { describe, expect, it } from "vitest";
import { elementsOnPath, expectedMaxNormal, fitCompute, fitConstants, predictStepMs, project, redisBytesOnPath, type ModelConstants, type Observation, type PathSpec } from "./scaling-model";

const hub32: PathSpec = { reduce: "hub", encoding: "fp32" };
const hub16: PathSpec = { reduce: "hub", encoding: "bf16" };
const rep16: PathSpec = { reduce: "replicated", encoding: "bf16" };
const rep32: PathSpec = { reduce: "replicated", encoding: "fp32" };

describe("scaling model", () => {
  it("counts the bytes and elements each path puts on the critical path", () => {
    // hub, 2 workers, fp32, 1000 params: weights 4000 out + 2×4000 read + 2×4000 in + 2×4000 read
    expect(redisBytesOnPath({ path: hub32, workers: 2, params: 1000, computeMs: 0 })).toBe(4000 + 8000 + 8000 + 8000);
    // replicated bf16: (3N+1)·e·P
    expect(redisBytesOnPath({ path: rep16, workers: 2, params: 1000, computeMs: 0 })).toBe(7 * 2 * 1000);
    expect(redisBytesOnPath({ path: rep16, workers: 8, params: 1000, computeMs: 0, redisNodes: 8 })).toBe((25 * 2 * 1000) / 8);
    expect(elementsOnPath({ path: hub32, workers: 4, params: 10, computeMs: 0 })).toBe(50);
    expect(elementsOnPath({ path: rep32, workers: 4, params: 10, computeMs: 0 })).toBe(20);
  });

  it("recovers the constants that generated the observations", () => {
    const truth: ModelConstants = { fixedMs: { hub: 2.5, replicated: 4 }, msPerMB: 1.7, nsPerElement: 3 };
    const obs: Observation[] = [];
    for (const path of [hub32, hub16, rep16, rep32]) {
      for (const [workers, params, computeMs] of [[1, 262_000, 50], [2, 262_000, 28], [2, 100_000, 30], [1, 100_000, 52]] as const) {
        const shape = { path, workers, params, computeMs };
        obs.push({ shape, stepMs: predictStepMs(truth, shape) });
      }
    }
    const c = fitConstants(obs);
    expect(c.fixedMs.hub).toBeCloseTo(2.5, 6);
    expect(c.fixedMs.replicated).toBeCloseTo(4, 6);
    expect(c.msPerMB).toBeCloseTo(1.7, 6);
    expect(c.nsPerElement).toBeCloseTo(3, 6);
  });

  it("never returns a negative constant", () => {
    // Steps that get cheaper with more bytes: the unconstrained fit would go negative.
    const obs: Observation[] = [1, 2, 3, 4, 5].map((n) => ({ shape: { path: rep16, workers: n, params: 1e6, computeMs: 10 }, stepMs: 30 - n }));
    obs.push({ shape: { path: hub32, workers: 1, params: 1e6, computeMs: 10 }, stepMs: 20 });
    const c = fitConstants(obs);
    for (const v of [c.fixedMs.hub, c.fixedMs.replicated, c.msPerMB, c.nsPerElement]) expect(v).toBeGreaterThanOrEqual(0);
  });

  it("the expected maximum of N standard normals matches the known values", () => {
    expect(expectedMaxNormal(1)).toBe(0);
    expect(expectedMaxNormal(2)).toBeCloseTo(1 / Math.sqrt(Math.PI), 3); // 0.5642
    expect(expectedMaxNormal(8)).toBeCloseTo(1.4236, 3);
    expect(expectedMaxNormal(16)).toBeCloseTo(1.7660, 3);
    expect(expectedMaxNormal(64)).toBeCloseTo(2.3437, 3);
  });

  it("stragglers: compute variation lowers projected efficiency", () => {
    const c: ModelConstants = { fixedMs: { hub: 1, replicated: 1 }, msPerMB: 0, nsPerElement: 0 };
    const steady = project(c, { fixedMs: 0, msPerRow: 0.1 }, rep16, 1000, 400, [16])[0]!.weak;
    const noisy = project(c, { fixedMs: 0, msPerRow: 0.1, cv: 0.1 }, rep16, 1000, 400, [16])[0]!.weak;
    expect(steady).toBeCloseTo(1, 9);
    expect(noisy).toBeCloseTo(41 / (1 + 40 * (1 + 0.1 * expectedMaxNormal(16))), 6);
  });

  it("projects: weak efficiency falls with N on one Redis and holds with the slices spread; strong falls faster", () => {
    const c: ModelConstants = { fixedMs: { hub: 2, replicated: 3 }, msPerMB: 1, nsPerElement: 2 };
    const compute = fitCompute([{ batch: 100, ms: 12 }, { batch: 200, ms: 22 }, { batch: 400, ms: 42 }]);
    expect(compute.msPerRow).toBeCloseTo(0.1, 9);
    expect(compute.fixedMs).toBeCloseTo(2, 9);
    const single = project(c, compute, rep16, 250_000, 400, [1, 16, 64]);
    const spread = project(c, compute, rep16, 250_000, 400, [1, 16, 64], (n) => n);
    expect(single[0]!.weak).toBeCloseTo(1, 9);
    expect(single[1]!.weak).toBeLessThan(single[0]!.weak);
    expect(single[2]!.weak).toBeLessThan(single[1]!.weak);
    expect(spread[2]!.weak).toBeGreaterThan(single[2]!.weak);
    for (const p of spread) expect(p.strong).toBeLessThanOrEqual(p.weak + 1e-12);
    const hub = project(c, compute, hub32, 250_000, 400, [16]);
    expect(hub[0]!.weak).toBeLessThan(spread[1]!.weak);
  });
});
