// Training with online features: examples joined to a view's exported values build the model's
// inputs with fillInputs (the edge's own function), the exported graphs take the caller's part
// and the view's part as separate inputs with the view in the manifest, and a model that sees
// the view does what one without it cannot. Errors name the file and the mismatch.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { AsOf, exportHeader } from "../../shared/feature-history";
import { fillInputs } from "../../shared/feature-inputs";
import { checkRow } from "../../shared/feature-rows";
import { argmaxRows } from "../../shared/onnx/mlp";
import { FULL_BINDING, USER_STATS, writeExample } from "../../dev/samples/features-example";
import { runTrainCommand, TRAIN_DEFAULTS, type TrainCommandOptions } from "../commands/train";
import { silentEvents } from "../train/events";
import { FeatureJoin } from "./feature-join";

const dir = mkdtempSync(join(tmpdir(), "meridian-feature-join-"));
const NOW = Date.UTC(2026, 11, 7, 6);
const files = writeExample(dir, NOW);

/** Folds rows the way `features export` folds the edge's log, and writes the export file. */
function exportAsOf(asOf: number, file: string, rowsFile = files.rows, view = USER_STATS): string {
  const fold = new AsOf(asOf);
  for (const line of readFileSync(rowsFile, "utf8").trim().split("\n")) {
    const checked = checkRow(view, JSON.parse(line), NOW);
    if (!checked.ok) throw new Error(checked.error);
    fold.add(checked.row);
  }
  writeFileSync(file, [exportHeader(view, asOf), ...fold.rows()].map((l) => JSON.stringify(l)).join("\n") + "\n");
  return file;
}
const exported = exportAsOf(files.asOf, join(dir, "user_stats.export.jsonl"));

const train = (over: Partial<TrainCommandOptions>) =>
  runTrainCommand(
    { ...TRAIN_DEFAULTS, dataset: `jsonl:${files.examples}`, out: join(dir, "out"), backend: "auto", json: true, cluster: false, fresh: true, push: false, promote: false, epochs: 40, hidden: [16], lr: 0.01, checkpointEvery: 0, ...over },
    silentEvents,
  );

describe("FeatureJoin", () => {
  it("builds a row's view inputs with fillInputs as of the export's time: defaults, staleness, refusals alike", async () => {
    const join_ = await FeatureJoin.open(files.binding, [exported]);
    expect(join_.asOf).toBe(files.asOf);
    expect(join_.inputs(2)).toEqual([{ name: "features", width: 2 }, { name: "user", width: 3 }]);
    const out = new Float32Array(3);
    expect(join_.fill("u0", out, 0)).toBeNull();
    const stored = { user_stats: Object.fromEntries(Object.entries(JSON.parse(readFileSync(exported, "utf8").split("\n").find((l) => l.includes('"u0"'))!).features)) } as never;
    expect(Array.from(out)).toEqual(Array.from(new Float32Array(fillInputs(FULL_BINDING, [{ name: "user", datatype: "FP32", shape: [-1, 3] }], stored, 1, files.asOf).inputs[0]!.data as number[])));
    // An entity without values: "recent" has no default, so the edge would refuse it; so does the join.
    expect(join_.fill("nobody", out, 0)?.message).toMatch(/feature "recent" of view "user_stats" has no value for this entity and no default/);
    // As of 40 days on, every value is older than loyalty's maxAgeMs (30 days): loyalty takes its
    // default 0; "recent" has no maxAgeMs and keeps its latest value.
    const late = await FeatureJoin.open(files.binding, [exportAsOf(NOW + 40 * 86_400_000, join(dir, "late.export.jsonl"))]);
    const newest = readFileSync(files.rows, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((r) => r.entity_id === "u0").at(-1);
    expect(late.fill("u0", out, 0)).toBeNull();
    expect(Array.from(out)).toEqual([0, ...newest.values.recent]);
  });

  it("refuses exports that do not fit: another definition, different times, a view missing", async () => {
    const other = exportAsOf(files.asOf, join(dir, "other.export.jsonl"), files.rows, { ...USER_STATS, consistency: "bounded", maxStalenessMs: 1000 });
    writeFileSync(join(dir, "full-binding.json"), JSON.stringify(FULL_BINDING));
    await expect(FeatureJoin.open(join(dir, "full-binding.json"), [other])).rejects.toThrow(/view "user_stats" was exported with another definition than --features gives/);
    await expect(FeatureJoin.open(files.binding, [])).rejects.toThrow(/no export of view "user_stats" \(write one with: meridian features export user_stats/);
    await expect(FeatureJoin.open(files.binding, [exported, exported])).rejects.toThrow(/two exports of view "user_stats"/);
    const later = exportAsOf(files.asOf + 1, join(dir, "later.export.jsonl"), files.rows, { ...USER_STATS, name: "other_stats" });
    writeFileSync(join(dir, "two.json"), JSON.stringify([{ name: "user_stats", input: "user" }, { name: "other_stats", input: "other" }]));
    await expect(FeatureJoin.open(join(dir, "two.json"), [exported, later])).rejects.toThrow(/the exports stand at different times .*export every view --as-of the same time/);
    await expect(FeatureJoin.open(files.binding, [exported, later])).rejects.toThrow(/view other_stats not in --features/);
  });
});

describe("train --features --feature-values", () => {
  let withViews: Awaited<ReturnType<typeof train>>;
  let itemOnly: Awaited<ReturnType<typeof train>>;
  beforeAll(async () => {
    withViews = await train({ features: files.binding, featureValues: [exported], out: join(dir, "with") });
    itemOnly = await train({ out: join(dir, "item-only") });
  }, 240_000);

  it("learns what the item alone cannot tell", () => {
    expect(withViews.data.source).toMatch(/3 values per row from feature views as of /);
    expect(withViews.exported.int8.evaluation.accuracy).toBeGreaterThan(0.9);
    expect(itemOnly.exported.int8.evaluation.accuracy).toBeLessThan(withViews.exported.int8.evaluation.accuracy - 0.1);
  });

  it("exports graphs taking the item and the view's input apart, with the view in the manifest", async () => {
    const manifest = JSON.parse(readFileSync(join(dir, "with", "model-int8.manifest.json"), "utf8"));
    expect(manifest.inputs).toEqual([
      { name: "features", datatype: "FP32", shape: [-1, 2] },
      { name: "user", datatype: "FP32", shape: [-1, 3] },
    ]);
    expect(manifest.features).toEqual(FULL_BINDING);
    // Scored again from the files, rows split as a caller and the edge send them: the manifest's accuracy.
    const data = withViews.data.dataset!;
    const x = data.test.x;
    const n = data.test.rows;
    const part = (from: number, width: number) => {
      const out = new Float32Array(n * width);
      for (let r = 0; r < n; r++) out.set(x.subarray(r * 5 + from, r * 5 + from + width), r * width);
      return out;
    };
    const s = await ort.InferenceSession.create(readFileSync(join(dir, "with", "model-int8.onnx")));
    const probs = (await s.run({ features: new ort.Tensor("float32", part(0, 2), [n, 2]), user: new ort.Tensor("float32", part(2, 3), [n, 3]) })).probabilities!.data as Float32Array;
    await s.release();
    const labels = argmaxRows(probs, 2);
    expect(labels.filter((l, i) => l === data.test.y[i]).length / n).toBeCloseTo(manifest.metrics.accuracy, 10);
  });
});
