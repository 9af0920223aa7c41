// Daily weather of Seattle and New York, 2012–2015 (vega-datasets `data/weather.csv`: 2,922 days
// of NOAA Climate Data Online daily summaries): the day's weather type (drizzle, fog, rain, snow,
// sun; NOAA's weather-type flags as vega condensed them) from what was measured that day.
// Features: precipitation (mm), temp_max and temp_min (°C), wind (km/h), the season as sin/cos of
// the day of the year, all standardised with the training split's mean and std; the location
// one-hot (New York, Seattle). Split: a seeded shuffle of all days.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { splitIndices, splitNote, take } from "./split";
import { applyStandardization, fitStandardization, type Standardization } from "./standardize";
import { NUMBER, parseCsvLine } from "./tabular";
import { DatasetError, type Dataset, type LoadOptions } from "./types";

export const WEATHER_LABELS = ["drizzle", "fog", "rain", "snow", "sun"];
export const WEATHER_LOCATIONS = ["New York", "Seattle"];
export const WEATHER_FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "season_sin", "season_cos", ...WEATHER_LOCATIONS.map((l) => `location=${l}`)];
/** The columns that are standardised (the one-hot ones stay 0/1). */
export const WEATHER_NUMERIC = [0, 1, 2, 3, 4, 5];
const F = WEATHER_FEATURES.length;
const HEADER = "location,date,precipitation,temp_max,temp_min,wind,weather";

export type WeatherDays = {
  /** Raw (unstandardised) features, row-major [rows × 8], in file order. */
  x: Float32Array;
  y: Int32Array;
  /** "<location>/<date>", unique per row. */
  ids: string[];
  rows: number;
};

/** The CSV inside the installed package (its `exports` only name the JS entry, so go from there). */
function weatherCsvPath(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve("vega-datasets")), "..", "data", "weather.csv");
  } catch (err) {
    throw new DatasetError(`cannot load the weather data set (npm vega-datasets): ${(err as Error).message}`);
  }
}

/** Day of the year as an angle, so Dec 31 sits next to Jan 1. */
function seasonAngle(date: string, where: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const t = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
  if (!Number.isFinite(t)) throw new DatasetError(`${where}: date ${JSON.stringify(date)} is not YYYY-MM-DD`);
  const day = (t - Date.UTC(Number(m![1]), 0, 1)) / 86_400_000;
  return (2 * Math.PI * day) / 365.25;
}

export function loadWeatherDays(path = weatherCsvPath()): WeatherDays {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new DatasetError(`cannot load the weather data set (npm vega-datasets, ${path}): ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  if (lines[0]!.replace(/^\uFEFF/, "") !== HEADER) throw new DatasetError(`${path}:1: expected the header ${HEADER}`);
  const x: number[] = [];
  const y: number[] = [];
  const ids: string[] = [];
  const seen = new Set<string>();
  lines.forEach((line, i) => {
    if (i === 0 || line.trim() === "") return;
    const where = `${path}:${i + 1}`;
    const f = parseCsvLine(line, where);
    if (f.length !== 7) throw new DatasetError(`${where}: expected 7 fields, found ${f.length}`);
    const [location, date, ...rest] = f as [string, string, string, string, string, string, string];
    const weather = rest[4];
    const loc = WEATHER_LOCATIONS.indexOf(location);
    if (loc < 0) throw new DatasetError(`${where}: unknown location ${JSON.stringify(location)} (expected ${WEATHER_LOCATIONS.join(", ")})`);
    const label = WEATHER_LABELS.indexOf(weather);
    if (label < 0) throw new DatasetError(`${where}: unknown weather ${JSON.stringify(weather)} (expected ${WEATHER_LABELS.join(", ")})`);
    const measured = rest.slice(0, 4).map((v, k) => {
      if (!NUMBER.test(v.trim())) throw new DatasetError(`${where}: ${WEATHER_FEATURES[k]} ${JSON.stringify(v)} is not a number`);
      return Number(v);
    });
    const id = `${location}/${date}`;
    if (seen.has(id)) throw new DatasetError(`${where}: a second row for ${id}`);
    seen.add(id);
    const angle = seasonAngle(date, where);
    x.push(...measured, Math.sin(angle), Math.cos(angle), ...WEATHER_LOCATIONS.map((_, k) => (k === loc ? 1 : 0)));
    y.push(label);
    ids.push(id);
  });
  return { x: Float32Array.from(x), y: Int32Array.from(y), ids, rows: y.length };
}

export function describeStandardization(s: Standardization): string {
  return s.columns.map((c, k) => `${WEATHER_FEATURES[c]} ${s.mean[k]!.toPrecision(4)}±${s.std[k]!.toPrecision(4)}`).join(", ");
}

export function loadWeather(opts: LoadOptions): Dataset {
  const days = loadWeatherDays();
  const idx = splitIndices(days.rows, opts);
  const train = take(days.x, days.y, F, idx.train);
  const test = take(days.x, days.y, F, idx.test);
  // Statistics from the training rows only, applied to both sides.
  const std = fitStandardization(train.x, F, WEATHER_NUMERIC, Int32Array.from({ length: train.rows }, (_, i) => i));
  applyStandardization(train.x, F, std);
  applyStandardization(test.x, F, std);
  return {
    name: "weather",
    source: `daily weather of Seattle and New York 2012–2015 (npm vega-datasets weather.csv, NOAA, ${days.rows} days): ${F} features (${WEATHER_FEATURES.join(", ")}); standardised with the training split's mean±std: ${describeStandardization(std)}`,
    splitNote: splitNote(opts, days.rows),
    features: F,
    labels: WEATHER_LABELS,
    standardization: { features: WEATHER_FEATURES, ...std },
    train,
    test,
  };
}
