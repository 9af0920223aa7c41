import { describe, expect, it } from "vitest";
import { AsOf, ExportFileError, exportHeader, parseExportHeader, parseExportRow, supersedes } from "./feature-history";
import type { FeatureRow } from "./feature-rows";
import type { FeatureView } from "./features";

const view: FeatureView = { name: "v", entity: "user", consistency: "strong", features: [{ name: "a", datatype: "FP32", shape: [2] }, { name: "b", datatype: "INT64", shape: [] }] };

describe("AsOf", () => {
  it("keeps per feature the latest value at or before as_of, the larger JSON on equal times, in any order", () => {
    const rows: FeatureRow[] = [
      { entity: "e", eventTime: 10, values: { a: [1, 1] } },
      { entity: "e", eventTime: 30, values: { a: [3, 3], b: ["7"] } },
      { entity: "e", eventTime: 20, values: { a: [2, 2] } },
      { entity: "e", eventTime: 20, values: { a: [2, 5] } },
      { entity: "f", eventTime: 40, values: { b: ["1"] } },
    ];
    for (const order of [rows, [...rows].reverse()]) {
      const fold = new AsOf(25);
      for (const r of order) fold.add(r);
      expect([...fold.rows()]).toEqual([{ entity_id: "e", features: { a: { value: [2, 5], eventTime: 20 } } }]);
      expect(fold.counts).toEqual({ rows: 5, later: 2 });
    }
    expect(supersedes({ json: "[1]", eventTime: 5 }, undefined)).toBe(true);
    expect(supersedes({ json: "[1]", eventTime: 5 }, { json: "[2]", eventTime: 5 })).toBe(false);
  });
});

describe("export files", () => {
  const header = exportHeader(view, 100);
  it("round-trips a header and checks each line against the view", () => {
    expect(parseExportHeader(JSON.stringify(header), "f:1")).toEqual(header);
    expect(parseExportRow(JSON.stringify({ entity_id: "e", features: { a: { value: [1, 2], eventTime: 90 } } }), header, "f:2")).toEqual({ entity_id: "e", features: { a: { value: [1, 2], eventTime: 90 } } });
    const bad = (row: unknown) => () => parseExportRow(JSON.stringify(row), header, "f:3");
    expect(bad({ entity_id: "e", features: { c: { value: [1], eventTime: 1 } } })).toThrow('f:3: view "v" has no feature "c"');
    expect(bad({ entity_id: "e", features: { a: { value: [1], eventTime: 1 } } })).toThrow('f:3: feature "a": has 1 values, shape [2] needs 2');
    expect(bad({ entity_id: "e", features: { a: { value: [1, 2], eventTime: 101 } } })).toThrow("no later than the export's as_of");
    expect(bad({ features: {} })).toThrow("entity_id must be a non-empty string");
    expect(() => parseExportHeader('{"entity_id":"e"}', "f:1")).toThrow(ExportFileError);
    expect(() => parseExportHeader("{nope", "f:1")).toThrow("f:1: not valid JSON");
  });
});
