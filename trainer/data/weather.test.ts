// The weather data set (vega-datasets weather.csv): rows, features, and standardisation with
// statistics of the training side only, in memory (train --dataset) and streamed (shard weather).
import { describe, expect, it } from "vitest";
import { openRowSource } from "../shards";
import { isHeldOut } from "../shards/split";
import { loadDataset } from ".";
import { splitIndices, take } from "./split";
import { WEATHER_FEATURES, WEATHER_LABELS, WEATHER_NUMERIC, loadWeatherDays } from "./weather";

const F = WEATHER_FEATURES.length;

function columnStats(x: Float32Array, rows: number, c: number): { mean: number; std: number } {
  let s = 0;
  for (let r = 0; r < rows; r++) s += x[r * F + c]!;
  const mean = s / rows;
  let v = 0;
  for (let r = 0; r < rows; r++) v += (x[r * F + c]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / rows) };
}

describe("weather", () => {
  it("reads 2,922 days of two cities with five weather types", () => {
    const days = loadWeatherDays();
    expect(days.rows).toBe(2922);
    expect(days.x.length).toBe(2922 * F);
    expect(new Set(days.ids).size).toBe(2922);
    const counts = WEATHER_LABELS.map((_, k) => days.y.filter((y) => y === k).length);
    expect(Object.fromEntries(WEATHER_LABELS.map((l, k) => [l, counts[k]]))).toEqual({ drizzle: 111, fog: 139, rain: 1087, snow: 119, sun: 1466 });
    // First line: Seattle,2012-01-01,0.0,12.8,5.0,4.7,drizzle
    expect(days.ids[0]).toBe("Seattle/2012-01-01");
    expect(Array.from(days.x.subarray(0, F))).toEqual([0, 12.800000190734863, 5, 4.699999809265137, 0, 1, 0, 1]);
  });

  it("standardises with the training split's statistics only; the location stays one-hot", () => {
    const opts = { splitSeed: 1, testFraction: 0.2 };
    const data = loadDataset("weather", opts);
    expect(data).toMatchObject({ name: "weather", features: F, labels: WEATHER_LABELS });
    expect(data.train.rows + data.test.rows).toBe(2922);
    const days = loadWeatherDays();
    const raw = take(days.x, days.y, F, splitIndices(days.rows, opts).train);
    for (const [k, c] of WEATHER_NUMERIC.entries()) {
      const fit = columnStats(raw.x, raw.rows, c);
      expect(data.standardization!.mean[k]).toBeCloseTo(fit.mean, 9);
      expect(data.standardization!.std[k]).toBeCloseTo(fit.std, 9);
      const z = columnStats(data.train.x, data.train.rows, c);
      expect(z.mean).toBeCloseTo(0, 5);
      expect(z.std).toBeCloseTo(1, 5);
    }
    // Held-out rows were standardised with the training statistics, not their own.
    expect(columnStats(data.test.x, data.test.rows, 0).mean).not.toBeCloseTo(0, 5);
    for (const split of [data.train, data.test]) {
      for (let r = 0; r < split.rows; r++) expect(split.x[r * F + 6]! + split.x[r * F + 7]!).toBe(1);
    }
  });

  it("as a shard source: rows by <location>/<date>, standardised on the side the writer will not hold out", async () => {
    const source = await openRowSource("weather", { splitSeed: 1, testFraction: 0.2 });
    expect(source).toMatchObject({ name: "weather", features: F, labels: WEATHER_LABELS });
    const train: number[][] = [];
    for await (const row of source.rows()) {
      const out = new Float32Array(F);
      row.write(out, 0);
      if (!isHeldOut(row.id, 1, 0.2)) train.push(Array.from(out));
    }
    const x = Float32Array.from(train.flat());
    for (const c of WEATHER_NUMERIC) {
      expect(columnStats(x, train.length, c).mean).toBeCloseTo(0, 5);
      expect(columnStats(x, train.length, c).std).toBeCloseTo(1, 5);
    }
    await expect(openRowSource("weather", { splitSeed: 1 })).rejects.toThrow(/needs the test fraction/);
  });
});
