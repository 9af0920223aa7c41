// Trained weights → ONNX (fp32 and int8) + manifests, checked before anything is written:
//   1. the architecture's graphs (MLP: shared/onnx/mlp.ts, CNN: shared/onnx/cnn.ts, through
//      train/models.ts), int8 calibrated on training rows;
//   2. parity: the fp32 graph run by onnxruntime must match TF.js on sample inputs (1e-4);
//   3. held-out scoring of both graphs with onnxruntime (what a server will actually compute);
//   4. manifests via manifestFor, with preprocessing {id, params} for text models;
//   5. tabular data the loader standardised: the standardisation goes into both graphs, which
//      are checked and scored again on raw rows (what callers send).
// int8 format "auto" takes QLinearMatMul (the fastest int8 form in onnxruntime-web) when it stays
// within the accuracy budget of fp32, else the dynamic (MatMulInteger) form if that does better.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Manifest, Quantization } from "../../shared/manifest";
import { argmaxRows, type Int8Format } from "../../shared/onnx/mlp";
import { manifestFor } from "../../shared/onnx/manifest";
import { splitInput } from "../../shared/onnx/split-input";
import { prependStandardization, type InputScaling } from "../../shared/onnx/standardize";
import { seededPermutation } from "../data/split";
import type { Dataset, DatasetViews, InputStandardization, Split } from "../data/types";
import { ScoreAccumulator, type Evaluation } from "../train/metrics";
import { archClasses, type Arch } from "../train/arch";
import { gatherRows } from "../train/model";
import { modelFor, probabilitiesOf } from "../train/models";
import { loadOrt, runProbabilities, type OrtRuntime } from "./runtime";

export const TENSOR_NAMES = { input: "features", output: "probabilities", label: "label" } as const;

/** The parity bound between TF.js and the exported fp32 graph (max |Δ probability|). */
export const PARITY_TOLERANCE = 1e-4;
/** int8 targets from the issue: accuracy within 0.5 points of fp32, at least 3.5x smaller. */
export const INT8_MAX_ACCURACY_DROP = 0.005;
export const INT8_MIN_SIZE_RATIO = 3.5;

export class ExportError extends Error {
  override name = "ExportError";
}

/**
 * What the export reads of the data: a Dataset in memory (exportDataOf), or a shard set whose
 * held-out rows are streamed shard by shard (train/shard-data.ts).
 */
export type ExportData = {
  features: number;
  labels: readonly string[];
  positive?: number;
  /** The featurizer {id, params} for text models, else null. */
  preprocessing: { id: string; params: Record<string, unknown> } | null;
  heldOutRows: number;
  /** The first `rows` held-out rows (the parity check). */
  sample(rows: number): Promise<Float32Array>;
  /** A seeded sample of up to `rows` training rows (int8 calibration). */
  calibration(rows: number): Promise<Split>;
  /** The whole held-out split, in order, in blocks. */
  heldOut(): AsyncIterable<Split>;
  /**
   * Tabular data standardised by the loader (per feature, 0/1 for the columns left alone): the
   * exported graphs take raw rows and standardise them first (shared/onnx/standardize.ts).
   */
  standardization?: InputScaling;
  /** Rows joined to feature views (trainer/data/feature-join.ts): the served graphs take their parts as inputs. */
  views?: DatasetViews;
};

/** A loader's standardisation of some columns as per-feature vectors over all of them. */
export function inputScalingOf(s: InputStandardization, features: number): InputScaling {
  const mean = new Array<number>(features).fill(0);
  const std = new Array<number>(features).fill(1);
  s.columns.forEach((c, k) => {
    mean[c] = s.mean[k]!;
    std[c] = s.std[k]!;
  });
  return { mean, std };
}

/** Standardised rows back to raw ones (what a caller of the exported graph sends). */
function unstandardize(x: Float32Array, features: number, s: InputScaling): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! * s.std[i % features]! + s.mean[i % features]!;
  return out;
}

/** A Dataset in memory as export data: the held-out split is one block. */
export function exportDataOf(data: Dataset): ExportData {
  const F = data.features;
  return {
    features: F,
    labels: data.labels,
    ...(data.positive !== undefined ? { positive: data.positive } : {}),
    preprocessing: data.featurizer ? { id: data.featurizer.id, params: { ...data.featurizer.params } } : null,
    heldOutRows: data.test.rows,
    sample: async (rows) => data.test.x.subarray(0, rows * F),
    calibration: async (rows) => {
      const n = Math.min(rows, data.train.rows);
      const idx = seededPermutation(data.train.rows, 0x1a8).subarray(0, n);
      return { x: gatherRows(data.train.x, F, idx), y: Int32Array.from(idx, (i) => data.train.y[i]!), rows: n };
    },
    async *heldOut() {
      yield data.test;
    },
    ...(data.standardization ? { standardization: inputScalingOf(data.standardization, F) } : {}),
    ...(data.views ? { views: data.views } : {}),
  };
}

export type ExportOptions = {
  arch: Arch;
  params: Float32Array;
  data: Dataset | ExportData;
  name: string;
  version: number;
  int8Format: Int8Format | "auto";
  /** Training rows used to calibrate int8 activation ranges (a seeded sample). */
  calibrationRows?: number;
  /** Rows compared between TF.js and onnxruntime. */
  parityRows?: number;
  /** Extra numeric metrics for both manifests (train accuracy, steps, …). */
  extraMetrics?: Record<string, number>;
  createdAt?: string;
};

export type ExportedModel = {
  file: string;
  bytes: Uint8Array;
  manifest: Manifest;
  evaluation: Evaluation;
};

export type ExportResult = {
  runtime: OrtRuntime["name"];
  fp32: ExportedModel;
  int8: ExportedModel & { format: Int8Format };
  parity: { rows: number; maxAbsDiff: number; labelAgreement: number };
  sizeRatio: number;
  accuracyDrop: number;
  targets: { int8Accuracy: boolean; int8Size: boolean };
  /** Formats tried by "auto", with their held-out accuracy. */
  int8Tried: { format: Int8Format; accuracy: number; bytes: number }[];
};

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function int8NameFor(name: string): string {
  return `${name.slice(0, 59)}-int8`;
}

/** Builds, checks and scores both graphs; writes nothing. */
export async function buildExport(o: ExportOptions): Promise<ExportResult> {
  const { arch } = o;
  const data = "heldOut" in o.data ? o.data : exportDataOf(o.data);
  const classes = archClasses(arch);
  const F = data.features;
  const model = modelFor(arch);
  const rt = await loadOrt();

  // fp32 and the parity check against TF.js
  const fp32 = model.onnxFp32(o.params, TENSOR_NAMES);
  const nParity = Math.min(o.parityRows ?? 64, data.heldOutRows);
  const sample = await data.sample(nParity);
  const tfProbs = probabilitiesOf(arch, o.params, sample, nParity);
  const ortProbs = await runProbabilities(rt, fp32, TENSOR_NAMES, sample, nParity, F);
  const diff = maxAbsDiff(tfProbs, ortProbs);
  const tfLabels = argmaxRows(tfProbs, classes);
  const ortLabels = argmaxRows(ortProbs, classes);
  const agreement = tfLabels.filter((l, i) => l === ortLabels[i]).length / Math.max(1, nParity);
  if (!(diff <= PARITY_TOLERANCE)) {
    throw new ExportError(
      `exported fp32 ONNX disagrees with TF.js on ${nParity} sample rows: max |Δp| ${diff.toExponential(2)} > ${PARITY_TOLERANCE} (${rt.name})`,
    );
  }

  /** Held-out scores of a graph; `raw`: one that takes raw rows (standardisation in the graph). */
  const score = async (bytes: Uint8Array, raw?: InputScaling): Promise<Evaluation> => {
    const acc = new ScoreAccumulator(data.positive, true);
    for await (const b of data.heldOut()) {
      const probs = await runProbabilities(rt, bytes, TENSOR_NAMES, raw ? unstandardize(b.x, F, raw) : b.x, b.rows, F);
      acc.add(argmaxRows(probs, classes), b.y, { values: probs, classes });
    }
    return acc.result();
  };
  const fp32Eval = await score(fp32);

  // int8: calibrate on a seeded sample of training rows
  const cal = await data.calibration(o.calibrationRows ?? 512);
  const nCal = cal.rows;
  const calibration = cal.x;
  const formats: readonly Int8Format[] = o.int8Format === "auto" ? model.int8Formats : [o.int8Format];
  if (!formats.every((f) => model.int8Formats.includes(f))) {
    throw new ExportError(`int8 format ${o.int8Format} is not available for a ${arch.kind} (available: ${model.int8Formats.join(", ")})`);
  }
  const tried: { format: Int8Format; accuracy: number; bytes: number; model: Uint8Array; ev: Evaluation }[] = [];
  for (const format of formats) {
    const bytes = model.onnxInt8(o.params, TENSOR_NAMES, calibration, nCal, format);
    const ev = await score(bytes);
    tried.push({ format, accuracy: ev.accuracy, bytes: bytes.length, model: bytes, ev });
    if (fp32Eval.accuracy - ev.accuracy <= INT8_MAX_ACCURACY_DROP) break;
  }
  const best = tried.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));

  // Tabular data standardised by the loader: the served graphs standardise raw rows themselves;
  // the parity check and the scores are taken again on those graphs, with raw rows.
  let served = { fp32, fp32Eval, int8: best.model, int8Eval: best.ev };
  const scaling = data.standardization;
  if (scaling) {
    const withScaling = (bytes: Uint8Array) => prependStandardization(bytes, TENSOR_NAMES.input, scaling);
    const f = withScaling(fp32);
    const rawDiff = maxAbsDiff(tfProbs, await runProbabilities(rt, f, TENSOR_NAMES, unstandardize(sample, F, scaling), nParity, F));
    if (!(rawDiff <= PARITY_TOLERANCE)) {
      throw new ExportError(`the fp32 graph with its standardisation disagrees with TF.js on ${nParity} raw sample rows: max |Δp| ${rawDiff.toExponential(2)} > ${PARITY_TOLERANCE}`);
    }
    const i8 = withScaling(best.model);
    served = { fp32: f, fp32Eval: await score(f, scaling), int8: i8, int8Eval: await score(i8, scaling) };
  }

  // Rows joined to feature views: the served graphs take each part of a row (the caller's own
  // features, each view's input) as its own input, joined by a Concat in front: the same bits.
  const views = data.views;
  if (views) {
    const rows = scaling ? unstandardize(sample, F, scaling) : sample;
    for (const key of ["fp32", "int8"] as const) {
      const split = splitInput(served[key], TENSOR_NAMES.input, views.inputs);
      const whole = await runProbabilities(rt, served[key], TENSOR_NAMES, rows, nParity, F);
      const parts = await runProbabilities(rt, split, TENSOR_NAMES, rows, nParity, F, views.inputs);
      if (maxAbsDiff(whole, parts) !== 0) throw new ExportError(`the ${key} graph split into inputs ${views.inputs.map((p) => p.name).join(", ")} answers differently from the joined one`);
      served[key] = split;
    }
  }

  const labels = { [TENSOR_NAMES.output]: [...data.labels] };
  const preprocessing = data.preprocessing;
  const common = {
    ...o.extraMetrics,
    accuracy_fp32: served.fp32Eval.accuracy,
    accuracy_int8: served.int8Eval.accuracy,
    heldout_rows: data.heldOutRows,
  };
  const metricsOf = (ev: Evaluation): Record<string, number> => {
    const m: Record<string, number> = { ...common, accuracy: ev.accuracy };
    for (const k of ["loss", "precision", "recall", "f1"] as const) if (ev[k] !== undefined) m[k] = ev[k]!;
    return m;
  };
  const manifest = (bytes: Uint8Array, name: string, quantization: Quantization, ev: Evaluation): Promise<Manifest> =>
    manifestFor(bytes, {
      name,
      version: o.version,
      quantization,
      labels,
      metrics: metricsOf(ev),
      preprocessing,
      ...(o.createdAt ? { createdAt: o.createdAt } : {}),
      ...(views ? { features: views.bindings } : {}),
    });

  const sizeRatio = served.fp32.length / served.int8.length;
  const accuracyDrop = served.fp32Eval.accuracy - served.int8Eval.accuracy;
  return {
    runtime: rt.name,
    fp32: { file: "model.onnx", bytes: served.fp32, manifest: await manifest(served.fp32, o.name, "none", served.fp32Eval), evaluation: served.fp32Eval },
    int8: {
      file: "model-int8.onnx",
      bytes: served.int8,
      manifest: await manifest(served.int8, int8NameFor(o.name), `int8-${best.format}`, served.int8Eval),
      evaluation: served.int8Eval,
      format: best.format,
    },
    parity: { rows: nParity, maxAbsDiff: diff, labelAgreement: agreement },
    sizeRatio,
    accuracyDrop,
    targets: { int8Accuracy: accuracyDrop <= INT8_MAX_ACCURACY_DROP, int8Size: sizeRatio >= INT8_MIN_SIZE_RATIO },
    int8Tried: tried.map(({ format, accuracy, bytes }) => ({ format, accuracy, bytes })),
  };
}

/** Writes model.onnx, model.manifest.json, model-int8.onnx, model-int8.manifest.json to `dir`. */
export async function writeExport(dir: string, r: ExportResult): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const m of [r.fp32, r.int8]) {
    const onnxPath = join(dir, m.file);
    const manifestPath = join(dir, m.file.replace(/\.onnx$/, ".manifest.json"));
    await writeFile(onnxPath, m.bytes);
    await writeFile(manifestPath, JSON.stringify(m.manifest, null, 2) + "\n");
    files.push(onnxPath, manifestPath);
  }
  return files;
}
