// Valid requests for the sample models: the starting point of every mutation, the controls sent
// during a run, and the known predictions compared before and after it.
import { INTEGER_RANGE, type Datatype } from "../../shared/datatypes";
import type { Manifest, TensorSpec } from "../../shared/manifest";
import type { Json } from "./json";
import type { Rng } from "./prng";

/** What the generator needs to know about a served model (from its manifest). */
export type ModelInfo = Pick<Manifest, "name" | "version" | "inputs" | "outputs" | "labels" | "preprocessing">;

export type JsonObject = { [key: string]: Json };
/** An OIP inference request whose fields mutations may replace with anything. */
export type OipRequest = JsonObject & { inputs: JsonObject[] };

export const isText = (m: ModelInfo): boolean => m.preprocessing !== null;

/** The three Iris classes, one row each: the prediction checked before and after a run. */
export const KNOWN_IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.2, 2.9, 4.3, 1.3],
  [7.7, 3.0, 6.1, 2.3],
] as const;

export function knownIrisRequest(): OipRequest {
  return { inputs: [{ name: "measurements", datatype: "FP32", shape: [3, 4], data: KNOWN_IRIS_ROWS.flat() }] };
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

/** One in-range element of `datatype`. */
export function validValue(rng: Rng, datatype: Datatype): Json {
  switch (datatype) {
    case "BOOL":
      return rng.chance(0.5);
    case "BYTES":
      return rng.word(rng.int(0, 12));
    case "FP16":
      return round((rng.next() - 0.5) * 200, 2);
    case "FP32":
    case "FP64":
      return round((rng.next() - 0.5) * 20, 4);
    default: {
      const [lo, hi] = INTEGER_RANGE[datatype]!;
      const span = hi - lo;
      const v = lo + (BigInt(Math.floor(rng.next() * 2 ** 32)) * span) / 2n ** 32n;
      const wide = datatype === "INT64" || datatype === "UINT64";
      // 64-bit values may travel as decimal strings; the rest must be numbers.
      return wide && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER) || rng.chance(0.3)) ? v.toString() : Number(v);
    }
  }
}

/** Values for one input of `rows` rows; the model's fixed dimensions fill the rest. */
export function validInput(rng: Rng, spec: TensorSpec, rows: number): JsonObject {
  const shape = spec.shape.map((d, i) => (d === -1 ? (i === 0 ? rows : rng.int(1, 3)) : d));
  const count = shape.reduce((a, b) => a * b, 1);
  const flat: Json[] = Array.from({ length: count }, () => validValue(rng, spec.datatype));
  const width = shape.length === 2 ? shape[1]! : 0;
  // Half of the requests send nested rows, which OIP allows too.
  const data = width > 0 && rng.chance(0.5) ? Array.from({ length: shape[0]! }, (_, r) => flat.slice(r * width, (r + 1) * width)) : flat;
  return { name: spec.name, datatype: spec.datatype, shape, data };
}

const SAMPLE_TEXTS = [
  "Meeting moved to 3pm, see agenda attached.",
  "WIN $1000 NOW!!! Click here to claim your prize",
  "",
  "Ünïcödé tëxt with émojis 🎉 and 中文",
  "re: re: re: invoice #4411",
];

export function validTexts(rng: Rng, rows: number): string[] {
  return Array.from({ length: rows }, () => rng.pick(SAMPLE_TEXTS));
}

/** A valid OIP request: every input of `model`; a text model gets raw text half of the time. */
export function validOip(rng: Rng, model: ModelInfo, rows = rng.int(1, 3)): OipRequest {
  if (isText(model) && rng.chance(0.7)) {
    return { inputs: [{ name: model.inputs[0]!.name, datatype: "BYTES", shape: [rows], data: validTexts(rng, rows) }] };
  }
  // Text models' feature rows are 4,096 wide: one row keeps their bodies small.
  const n = isText(model) ? 1 : rows;
  return { inputs: model.inputs.map((spec) => validInput(rng, spec, spec.shape[0] === -1 && model.inputs.length > 1 ? rng.int(1, 4) : n)) };
}

/** A valid /v1/predict body (single-input models only). */
export function validPredict(rng: Rng, model: ModelInfo, rows = rng.int(1, 3)): JsonObject {
  if (isText(model)) return { instances: validTexts(rng, rows) };
  const spec = model.inputs[0]!;
  const width = spec.shape[1] ?? 1;
  return { instances: Array.from({ length: rows }, () => Array.from({ length: width }, () => validValue(rng, spec.datatype))) };
}

/** Models /v1/predict serves (one input). */
export const predictable = (models: readonly ModelInfo[]): ModelInfo[] => models.filter((m) => m.inputs.length === 1);
