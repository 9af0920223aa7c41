// One inference: checks a decoded OIP request against the manifest, runs the session and
// encodes the outputs. Every client mistake is an InvalidInput that names the input at fault; a
// failure of the runtime itself is an InferenceFailed.
import { ORT_TYPE, datatypeFromOrt, elementCount, isDatatype } from "../../shared/datatypes";
import type { Featurizer } from "../../shared/featurize";
import type { Manifest } from "../../shared/manifest";
import type { InferenceRequest, InferenceResponse, ResponseOutput } from "../../shared/oip";
import { TensorError, checkShape, decodeTensor, encodeValues } from "../../shared/tensors";
import { InferenceFailed, InvalidInput } from "../errors";
import { ort } from "./ort";
import type { LoadedSession } from "./sessions";
import { featurizeInput } from "./text";

export interface Timings {
  featurizeMs: number;
  runMs: number;
}

export async function infer(
  { session, featurizer }: LoadedSession,
  manifest: Manifest,
  request: InferenceRequest,
  /** Filled with how long turning the inputs into tensors (featurizing text) and session.run took. */
  timings?: Timings,
): Promise<InferenceResponse> {
  const tDecode = performance.now();
  const feeds = decodeInputs(manifest, featurizer, request);
  if (timings) timings.featurizeMs = performance.now() - tDecode;
  const wanted = request.outputs ?? manifest.outputs.map((o) => ({ name: o.name, parameters: undefined }));
  const known = new Set(manifest.outputs.map((o) => o.name));
  for (const o of wanted) {
    if (!known.has(o.name)) {
      throw new InvalidInput(`unknown output "${o.name}"; the model has ${list(known)}`);
    }
  }
  let results: ort.InferenceSession.ReturnType;
  const t0 = performance.now();
  try {
    results = await session.run(feeds, [...new Set(wanted.map((o) => o.name))]);
    if (timings) timings.runMs = performance.now() - t0;
  } catch (err) {
    throw await classify(session, manifest, err);
  }
  const outputs = wanted.map((o) => {
    const tensor = results[o.name];
    if (!tensor) throw new InferenceFailed(`the model produced no output "${o.name}"`);
    const k = o.parameters?.classification;
    return k === undefined ? encodeOutput(o.name, tensor) : topK(o.name, tensor, k, manifest);
  });
  const response: InferenceResponse = {
    model_name: manifest.name,
    model_version: String(manifest.version),
    outputs,
  };
  if (request.id !== undefined) response.id = request.id;
  return response;
}

function decodeInputs(manifest: Manifest, featurizer: Featurizer | null, request: InferenceRequest): Record<string, ort.Tensor> {
  const specs = new Map(manifest.inputs.map((s) => [s.name, s]));
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
    try {
      if (text) {
        feeds[input.name] = featurizeInput(featurizer, input);
        continue;
      }
      checkShape(input.name, input.shape, spec);
      const t = decodeTensor(input.name, spec.datatype, input.shape, input.data);
      feeds[input.name] = new ort.Tensor(t.type, t.values, t.dims);
    } catch (err) {
      if (err instanceof TensorError) throw new InvalidInput(err.message);
      throw err;
    }
  }
  for (const name of specs.keys()) {
    if (!feeds[name]) throw new InvalidInput(`missing input "${name}"; the model takes ${list(specs.keys())}`);
  }
  return feeds;
}

function encodeOutput(name: string, tensor: ort.Tensor): ResponseOutput {
  const datatype = datatypeFromOrt(tensor.type);
  if (!datatype) throw new InferenceFailed(`output "${name}" has type ${tensor.type}, which OIP cannot carry`);
  return { name, datatype, shape: [...tensor.dims], data: encodeValues(datatype, tensor.data as ArrayLike<unknown>) };
}

/**
 * Whose fault a failed run is. The inputs passed every check the manifest allows, so the runtime
 * refused either these inputs (a constraint of the graph: dynamic dimensions that must agree, say)
 * or any input (a fault here). A run on the smallest valid inputs tells which: when it succeeds,
 * the model works and the request was at fault.
 */
async function classify(session: ort.InferenceSession, manifest: Manifest, err: unknown): Promise<Error> {
  const reason = err instanceof Error ? err.message : String(err);
  try {
    await session.run(probeFeeds(manifest));
  } catch {
    return new InferenceFailed(`running model "${manifest.name}" version ${manifest.version} failed: ${reason}`);
  }
  return new InvalidInput(`the model rejected the inputs: ${reason}`);
}

/**
 * Runs a new session once on the smallest valid inputs, so that its first caller does not pay
 * for the first run (several times a warm one: arenas, kernels). A model that fails on zeros is
 * left to fail on its callers' inputs.
 */
export async function warmUp(session: ort.InferenceSession, manifest: Manifest): Promise<void> {
  await session.run(probeFeeds(manifest)).catch(() => undefined);
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
function topK(name: string, tensor: ort.Tensor, k: unknown, manifest: Manifest): ResponseOutput {
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1) {
    throw new InvalidInput(`output "${name}": parameter "classification" must be a positive integer`);
  }
  if (tensor.type !== "float32" || tensor.dims.length !== 2) {
    throw new InvalidInput(`output "${name}": classification needs a [batch, classes] FP32 output`);
  }
  const [rows = 0, classes = 0] = tensor.dims;
  const scores = tensor.data as Float32Array;
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
  return { name, datatype: "BYTES", shape: [rows, top], data };
}

const list = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(", ");
