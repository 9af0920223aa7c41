// One inference: checks a decoded OIP request (JSON or binary tensors) against the manifest, runs
// the session and hands back typed outputs (the route encodes them). Every client mistake is an
// InvalidInput (or the tensor codec's TensorError) that names the input at fault; a failure of the
// runtime itself is an InferenceFailed.
import { decodeBinaryTensor } from "../../shared/binary";
import { ORT_TYPE, datatypeFromOrt, elementCount, isDatatype } from "../../shared/datatypes";
import type { Featurizer } from "../../shared/featurize";
import { servingOf, type Manifest, type Warmup } from "../../shared/manifest";
import type { InferenceRequest, InferenceResult, OutputTensor } from "../../shared/oip";
import { checkShape, decodeTensor, type TensorValues } from "../../shared/tensors";
import { InferenceFailed, InvalidInput } from "../errors";
import { ort } from "./ort";
import type { BatchedRun } from "./batcher";
import type { Run } from "./ort-direct";
import { cacheKey, type CacheOutcome, type ResponseCache } from "./response-cache";
import type { LoadedSession } from "./sessions";
import { featurizeInput } from "./text";

export interface Timings {
  featurizeMs: number;
  /** session.run, with the wait for a batch's other requests when the version batches. */
  runMs: number;
}

export interface InferOptions {
  /** Filled with how long turning the inputs into tensors (featurizing text) and the run took. */
  timings?: Timings;
  /** The response cache, for requests that may use it (never for a shadow, which measures the model). */
  cache?: { store: ResponseCache; waitUntil(promise: Promise<unknown>): void };
}

export interface Inference {
  result: InferenceResult;
  cache: CacheOutcome;
  /** Rows in the session.run that answered (more than the request's own when it was batched); null from the cache. */
  runRows: number | null;
}

/** What every request to a version needs from its manifest, worked out once per manifest object. */
interface Shape {
  inputs: Map<string, Manifest["inputs"][number]>;
  outputs: Set<string>;
  allOutputs: NonNullable<InferenceRequest["outputs"]>;
  allNames: string[];
  cache: ReturnType<typeof servingOf>["cache"];
}
const shapes = new WeakMap<Manifest, Shape>();

function shapeOf(manifest: Manifest): Shape {
  let shape = shapes.get(manifest);
  if (!shape) {
    const allNames = manifest.outputs.map((o) => o.name);
    shape = {
      inputs: new Map(manifest.inputs.map((s) => [s.name, s])),
      outputs: new Set(allNames),
      allOutputs: allNames.map((name) => ({ name })),
      allNames,
      cache: servingOf(manifest).cache,
    };
    shapes.set(manifest, shape);
  }
  return shape;
}

export async function infer(loaded: LoadedSession, manifest: Manifest, request: InferenceRequest, opts: InferOptions = {}): Promise<Inference> {
  const { timings } = opts;
  const shape = shapeOf(manifest);
  const tDecode = performance.now();
  const feeds = decodeInputs(shape.inputs, loaded.featurizer, request);
  if (timings) timings.featurizeMs = performance.now() - tDecode;
  const wanted = request.outputs ?? shape.allOutputs;
  for (const o of wanted) {
    if (!shape.outputs.has(o.name)) {
      throw new InvalidInput(`unknown output "${o.name}"; the model has ${list(shape.outputs)}`);
    }
  }
  const names = request.outputs ? [...new Set(wanted.map((o) => o.name))] : shape.allNames;
  const settings = shape.cache;
  const cache = opts.cache && usesCache(request, settings.enabled) ? opts.cache : null;
  const key = cache ? await cacheKey(manifest.sha256, feeds, names) : null;
  const hit = key ? await cache!.store.get(key) : null;
  let produced: Map<string, OutputTensor>;
  let runRows: number | null = null;
  if (hit) produced = new Map(hit.outputs.map((o) => [o.name, o]));
  else {
    const t0 = performance.now();
    let run: BatchedRun;
    try {
      run = loaded.batcher ? await loaded.batcher.run(feeds, names) : { outputs: await loaded.run(feeds, names), batchRows: feeds[manifest.inputs[0]!.name]?.dims[0] ?? 1 };
    } catch (err) {
      throw await classify(loaded.run, manifest, err);
    }
    if (timings) timings.runMs = performance.now() - t0;
    runRows = run.batchRows;
    produced = new Map(names.map((name) => [name, toOutput(name, run.outputs[name])]));
    if (key) cache!.store.put(key, [...produced.values()], { ...settings, waitUntil: cache!.waitUntil });
  }
  const outputs = wanted.map((o) => {
    const tensor = produced.get(o.name)!;
    const k = o.parameters?.classification;
    return k === undefined ? tensor : topK(tensor, k, manifest);
  });
  const result: InferenceResult = { model_name: manifest.name, model_version: String(manifest.version), outputs };
  if (request.id !== undefined) result.id = request.id;
  return { result, cache: cache ? (hit?.outcome ?? "miss") : "bypass", runRows };
}

/** The request's `cache` parameter (true or false) if it has one, else the manifest's setting. */
function usesCache(request: InferenceRequest, enabled: boolean): boolean {
  const asked = request.parameters?.cache;
  if (asked === undefined) return enabled;
  if (typeof asked !== "boolean") throw new InvalidInput(`parameter "cache" must be true or false`);
  return asked;
}

function decodeInputs(specs: Shape["inputs"], featurizer: Featurizer | null, request: InferenceRequest): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of request.inputs) {
    const spec = specs.get(input.name);
    if (!spec) throw new InvalidInput(`unknown input "${input.name}"; the model takes ${list(specs.keys())}`);
    if (feeds[input.name]) throw new InvalidInput(`input "${input.name}" is given twice`);
    if (!isDatatype(input.datatype)) {
      throw new InvalidInput(`input "${input.name}": unknown datatype "${input.datatype}"`);
    }
    const text = featurizer !== null && input.datatype === "BYTES";
    if (input.datatype !== spec.datatype && !text) {
      const accepts = featurizer ? `${spec.datatype} (features) or BYTES (raw text)` : spec.datatype;
      throw new InvalidInput(`input "${input.name}": datatype ${input.datatype} does not match the model's ${accepts}`);
    }
    if (text) {
      feeds[input.name] = featurizeInput(featurizer, input);
      continue;
    }
    checkShape(input.name, input.shape, spec);
    const t = input.binary
      ? decodeBinaryTensor(`input "${input.name}"`, spec.datatype, input.shape, input.binary)
      : decodeTensor(input.name, spec.datatype, input.shape, input.data ?? []);
    feeds[input.name] = new ort.Tensor(t.type, t.values, t.dims);
  }
  for (const name of specs.keys()) {
    if (!feeds[name]) throw new InvalidInput(`missing input "${name}"; the model takes ${list(specs.keys())}`);
  }
  return feeds;
}

function toOutput(name: string, tensor: ort.Tensor | undefined): OutputTensor {
  if (!tensor) throw new InferenceFailed(`the model produced no output "${name}"`);
  const datatype = datatypeFromOrt(tensor.type);
  if (!datatype) throw new InferenceFailed(`output "${name}" has type ${tensor.type}, which OIP cannot carry`);
  return { name, datatype, shape: [...tensor.dims], values: tensor.data as TensorValues };
}

/**
 * Whose fault a failed run is. The inputs passed every check the manifest allows, so the runtime
 * refused either these inputs (a constraint of the graph: dynamic dimensions that must agree, say)
 * or any input (a fault here). A run on the smallest valid inputs tells which: when it succeeds,
 * the model works and the request was at fault.
 */
async function classify(run: Run, manifest: Manifest, err: unknown): Promise<Error> {
  const reason = err instanceof Error ? err.message : String(err);
  try {
    await run(probeFeeds(manifest), manifest.outputs.map((o) => o.name));
  } catch {
    return new InferenceFailed(`running model "${manifest.name}" version ${manifest.version} failed: ${reason}`);
  }
  return new InvalidInput(`the model rejected the inputs: ${reason}`);
}

/**
 * Runs a new session on its warm-up requests (the manifest's, else one row of zeros generated from
 * the input specs, as TF Serving and Triton do) before it serves: its first caller does not pay
 * the first runs (several times a warm one: arenas, kernels), and a version that cannot answer
 * them is refused. Throws the first failure, naming the request.
 */
export async function warmUp(run: Run, manifest: Manifest): Promise<number> {
  const requests = servingOf(manifest).warmup;
  const all = requests ? requests.map((w, i) => ({ what: `warm-up request ${i + 1} of the manifest`, feeds: () => warmupFeeds(manifest, w) })) : [{ what: "the generated warm-up request (zeros, every dynamic dimension 1)", feeds: () => probeFeeds(manifest) }];
  for (const { what, feeds } of all) {
    try {
      await run(feeds(), manifest.outputs.map((o) => o.name));
    } catch (err) {
      throw new WarmupFailed(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return all.length;
}

export class WarmupFailed extends Error {
  override name = "WarmupFailed";
}

function warmupFeeds(manifest: Manifest, warmup: Warmup): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of manifest.inputs) {
    const input = warmup.inputs.find((i) => i.name === spec.name);
    if (!input) throw new Error(`it has no input "${spec.name}"`);
    if (input.datatype !== spec.datatype) throw new Error(`input "${spec.name}" is ${input.datatype}, the model takes ${spec.datatype}`);
    checkShape(spec.name, input.shape, spec);
    const t = decodeTensor(spec.name, spec.datatype, input.shape, input.data);
    feeds[spec.name] = new ort.Tensor(t.type, t.values, t.dims);
  }
  return feeds;
}

/** One row of zeros (empty strings for BYTES) per input, every dynamic dimension 1. */
function probeFeeds(manifest: Manifest): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of manifest.inputs) {
    const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
    const n = elementCount(dims);
    const type = ORT_TYPE[spec.datatype];
    const values = decodeTensor(spec.name, spec.datatype, dims, new Array(n).fill(zeroOf(spec.datatype))).values;
    feeds[spec.name] = new ort.Tensor(type, values, dims);
  }
  return feeds;
}

const zeroOf = (datatype: string): unknown => (datatype === "BYTES" ? "" : datatype === "BOOL" ? false : 0);

/** Triton's classification extension: top-k "score:index[:label]" strings per row. */
function topK({ name, datatype, shape, values }: OutputTensor, k: unknown, manifest: Manifest): OutputTensor {
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1) {
    throw new InvalidInput(`output "${name}": parameter "classification" must be a positive integer`);
  }
  if (datatype !== "FP32" || shape.length !== 2) {
    throw new InvalidInput(`output "${name}": classification needs a [batch, classes] FP32 output`);
  }
  const [rows = 0, classes = 0] = shape;
  const scores = values as Float32Array;
  const labels = manifest.labels[name];
  const top = Math.min(k, classes);
  const data: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(scores.subarray(r * classes, (r + 1) * classes), (score, index) => ({ score, index }));
    row.sort((a, b) => b.score - a.score);
    for (const { score, index } of row.slice(0, top)) {
      const label = labels?.[index];
      data.push(label === undefined ? `${score}:${index}` : `${score}:${index}:${label}`);
    }
  }
  return { name, datatype: "BYTES", shape: [rows, top], values: data };
}

const list = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(", ");
