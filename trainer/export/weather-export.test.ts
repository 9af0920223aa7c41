// A tabular model whose loader standardised its inputs (weather): the exported graphs take raw
// rows and standardise them in the graph, so callers send measurements as they are. Checked with
// onnxruntime-node on the raw held-out rows read straight from the CSV.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { argmaxRows } from "../../shared/onnx/mlp";
import { runTrainCommand, TRAIN_DEFAULTS, type TrainCommandResult } from "../commands/train";
import { splitIndices, take } from "../data/split";
import { WEATHER_FEATURES, WEATHER_LABELS, loadWeatherDays } from "../data/weather";
import { silentEvents } from "../train/events";
import { probabilitiesOf } from "../train/models";

const F = WEATHER_FEATURES.length;
const out = join(mkdtempSync(join(tmpdir(), "meridian-weather-export-")), "weather");
let run: TrainCommandResult;
beforeAll(async () => {
  run = await runTrainCommand(
    { ...TRAIN_DEFAULTS, dataset: "weather", out, backend: "auto", json: true, cluster: false, fresh: false, push: false, promote: false, epochs: 3, checkpointEvery: 0 },
    silentEvents,
  );
}, 120_000);

async function ortRun(bytes: Uint8Array, x: Float32Array, rows: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { extra: { session: { x64quantprecision: "1" } } });
  try {
    return (await s.run({ features: new ort.Tensor("float32", x, [rows, F]) })).probabilities!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe("exported weather models take raw rows", () => {
  it("fp32 on raw CSV rows = TF.js on the standardised ones; the manifests' accuracy is that of raw rows", async () => {
    const days = loadWeatherDays();
    const raw = take(days.x, days.y, F, splitIndices(days.rows, { splitSeed: 1, testFraction: 0.2 }).test);
    const data = run.data.dataset!;
    expect(raw.rows).toBe(data.test.rows);
    expect(Array.from(raw.y)).toEqual(Array.from(data.test.y)); // the same rows, in the same order
    expect(Array.from(raw.x.subarray(0, F))).not.toEqual(Array.from(data.test.x.subarray(0, F))); // raw vs standardised

    const tf = probabilitiesOf(run.config.arch, run.result.params, data.test.x, data.test.rows);
    const fp32 = await ortRun(readFileSync(join(out, "model.onnx")), raw.x, raw.rows);
    let maxDiff = 0;
    for (let i = 0; i < tf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tf[i]! - fp32[i]!));
    expect(maxDiff).toBeLessThan(1e-4);

    for (const [file, manifestFile] of [["model.onnx", "model.manifest.json"], ["model-int8.onnx", "model-int8.manifest.json"]] as const) {
      const probs = await ortRun(readFileSync(join(out, file)), raw.x, raw.rows);
      const labels = argmaxRows(probs, WEATHER_LABELS.length);
      const accuracy = labels.filter((l, i) => l === raw.y[i]).length / raw.rows;
      const manifest = JSON.parse(readFileSync(join(out, manifestFile), "utf8"));
      expect(manifest.metrics.accuracy).toBeCloseTo(accuracy, 10);
      expect(accuracy).toBeGreaterThan(0.6); // well above the 50.2% majority class
    }
  });

  it("the standardised graph without the nodes in front would be wrong on raw rows (the nodes matter)", async () => {
    const days = loadWeatherDays();
    const raw = take(days.x, days.y, F, splitIndices(days.rows, { splitSeed: 1, testFraction: 0.2 }).test);
    const tf = probabilitiesOf(run.config.arch, run.result.params, raw.x, raw.rows); // the trained graph fed raw rows
    const served = await ortRun(readFileSync(join(out, "model.onnx")), raw.x, raw.rows);
    let maxDiff = 0;
    for (let i = 0; i < tf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tf[i]! - served[i]!));
    expect(maxDiff).toBeGreaterThan(0.05);
  });
});
