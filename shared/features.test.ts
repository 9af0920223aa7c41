// The pure side of feature views: how a view's features are laid into an input's rows (order,
// offsets, multi-dimensional shapes, every row of the batch), what missing and stale values
// become, the checks of written rows, and the manifest's parsing adding nothing (it is signed).
import { describe, expect, it } from "vitest";
import { MissingFeature, fillInputs } from "./feature-inputs";
import { MAX_FUTURE_MS, checkRow } from "./feature-rows";
import { FeatureBindingSchema, bindingProblems, sameView, viewOf, type FeatureBinding } from "./features";
import type { TensorSpec } from "./manifest";

const inputs: TensorSpec[] = [
  { name: "ids", datatype: "INT64", shape: [-1, 3] },
  { name: "grid", datatype: "FP32", shape: [-1, 2, 3] },
];
const grid = (name: string, offset: number, features: FeatureBinding["features"]): FeatureBinding => ({ name, entity: "account", consistency: "strong", features, input: "grid", offset });
const a = grid("a", 0, [
  { name: "m", datatype: "FP32", shape: [2, 2], default: [[1, 2], [3, 4]] },
  { name: "s", datatype: "FP32", shape: [], maxAgeMs: 1000 },
]);
const b = grid("b", 5, [{ name: "t", datatype: "FP32", shape: [1], default: 9 }]);
const ids: FeatureBinding = { name: "ids", entity: "account", consistency: "bounded", maxStalenessMs: 500, features: [{ name: "v", datatype: "INT64", shape: [3] }], input: "ids" };

describe("feature views against inputs", () => {
  it("accepts views that tile an input's rows, whatever their order in the manifest", () => {
    expect(bindingProblems([b, a, ids], inputs)).toEqual([]);
  });

  it("names every gap and overlap", () => {
    expect(bindingProblems([a], inputs)).toEqual(['input "grid": positions 5..5 are filled by no feature view (its rows have 6 values, the views give 5)']);
    expect(bindingProblems([a, { ...b, offset: 4 }], inputs)).toEqual(['feature view "b" takes positions 4..4 of input "grid", overlapping positions before 5', 'input "grid": positions 5..5 are filled by no feature view (its rows have 6 values, the views give 5)']);
    expect(bindingProblems([{ ...ids, input: "grid" }], [{ name: "grid", datatype: "INT64", shape: [-1, -1] }])[0]).toMatch(/a feature input needs the batch first and every other dimension fixed/);
  });

  it("parses a manifest's view without adding anything (the manifest is signed as parsed)", () => {
    expect(FeatureBindingSchema.parse(a)).toEqual(a);
    expect(FeatureBindingSchema.parse(ids)).toEqual(ids);
    expect(FeatureBindingSchema.safeParse({ ...ids, extra: 1 }).success).toBe(false);
    expect(sameView(viewOf(a), viewOf({ ...a, input: "other", offset: 3 }))).toBe(true);
    expect(sameView(viewOf(a), viewOf({ ...a, features: [...a.features].reverse() }))).toBe(false);
  });
});

describe("fillInputs", () => {
  const now = 1_000_000;
  it("lays features out in declared order from each view's offset, the same row for every row of the batch", () => {
    const fill = fillInputs([a, b, ids], inputs, { a: { m: { value: [5, 6, 7, 8], eventTime: now }, s: { value: [0.5], eventTime: now - 10 } }, b: { t: { value: [2], eventTime: 0 } }, ids: { v: { value: ["9007199254740993", 1, 2], eventTime: 0 } } }, 2, now);
    expect(fill.inputs).toEqual([
      { name: "grid", datatype: "FP32", shape: [2, 2, 3], data: [5, 6, 7, 8, 0.5, 2, 5, 6, 7, 8, 0.5, 2] },
      { name: "ids", datatype: "INT64", shape: [2, 3], data: ["9007199254740993", 1, 2, "9007199254740993", 1, 2] },
    ]);
    expect(fill).toMatchObject({ defaulted: [], stale: [] });
  });

  it("uses defaults for missing values and for values past maxAgeMs, and names them", () => {
    const withDefault = grid("a", 0, [a.features[0]!, { ...a.features[1]!, default: 0.25 }]);
    const fill = fillInputs([withDefault, b], inputs, { a: { s: { value: [0.5], eventTime: now - 2000 } } }, 1, now);
    expect(fill.defaulted).toEqual(["a.m", "a.s", "b.t"]);
    expect(fill.stale).toEqual(["a.s"]);
    expect(fill.inputs[0]!.data).toEqual([1, 2, 3, 4, 0.25, 9]);
  });
});

describe("fillInputs refusals", () => {
  it("refuses a missing or stale value without a default", () => {
    const now = 5000;
    expect(() => fillInputs([a, b], inputs, { a: { m: { value: [1, 2, 3, 4], eventTime: now } } }, 1, now)).toThrow(new MissingFeature('feature "s" of view "a" has no value for this entity and no default'));
    expect(() => fillInputs([a, b], inputs, { a: { s: { value: [1], eventTime: 1000 } } }, 1, now)).toThrow(/feature "s" of view "a" is stale \(written 1970-01-01T00:00:01.000Z, older than maxAgeMs 1000\) and has no default/);
  });
});

describe("checkRow", () => {
  const view = viewOf(a);
  const now = Date.UTC(2026, 11, 7);
  it("takes scalars bare and nested arrays flattened, epoch ms or RFC 3339", () => {
    expect(checkRow(view, { entity_id: "e", values: { m: [[1, 2], [3, 4]], s: 1 }, event_time: "2026-12-07T00:00:00+01:00" }, now)).toEqual({
      ok: true,
      row: { entity: "e", eventTime: now - 3_600_000, values: { m: [1, 2, 3, 4], s: [1] } },
    });
  });

  it("refuses the whole row for any bad part", () => {
    const bad = (row: unknown) => {
      const r = checkRow(view, row, now);
      return r.ok ? null : r.error;
    };
    expect(bad({ entity_id: "e", values: { s: 1 }, event_time: now + MAX_FUTURE_MS + 1 })).toMatch(/in the future/);
    expect(bad({ entity_id: "e", values: { s: 1 }, event_time: -1 })).toMatch(/not a time/);
    expect(bad({ entity_id: "e", values: { s: 1 }, event_time: "2026-12-07" })).toMatch(/RFC 3339 string with its zone/);
    expect(bad({ entity_id: "e", values: { s: 3.5e38 }, event_time: now })).toMatch(/feature "s": element 0 is 3.5e\+38, expected a number within the FP32 range/);
    expect(bad({ entity_id: "e", values: {}, event_time: now })).toBe("values is empty");
    expect(bad({ entity_id: "e", values: { s: 1 }, event_time: now, extra: true })).toMatch(/unknown field "extra"/);
    expect(bad({ entity_id: "x".repeat(257), values: { s: 1 }, event_time: now })).toMatch(/longer than 256/);
    expect(bad([1])).toMatch(/a row must be an object/);
    const wide = viewOf(grid("w", 0, [{ name: "big", datatype: "FP64", shape: [20_000] }]));
    const r = checkRow(wide, { entity_id: "e", values: { big: Array.from({ length: 20_000 }, () => Math.PI) }, event_time: now }, now);
    expect(r.ok ? null : r.error).toMatch(/feature "big": the value is \d+ bytes of JSON, more than the 262144 a feature may hold/);
  });
});
