// What bench:dataplane publishes and sends: the sample models, copies of them with cache and
// batching settings, a 224×224×3 FP32 image model built here, and the request bodies (JSON and
// binary tensor data, encoded by shared/binary.ts as the client library encodes them).
import type { FixtureModel } from "../../dev/samples/index";
import { AdminClient } from "../../shared/admin-client";
import { BINARY_CONTENT_TYPE, HEADER_LENGTH, encodeRequest, type TensorInput } from "../../shared/binary";
import { ManifestSchema, type Manifest, type Serving, type TensorSpec } from "../../shared/manifest";
import { attr, encodeModel, floatTensor, graph, node, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { normalRows, seededRandom } from "../../shared/random";
import type { HttpRequest } from "./load";

export const IMAGE = { name: "img224", input: "image", height: 224, width: 224, channels: 3, classes: 10 } as const;

/**
 * A [-1, 224, 224, 3] FP32 image classifier-shaped model: ReduceMean over height and width (global
 * average pooling, NHWC), a 3×10 MatMul and bias, Softmax and ArgMax. The model is tiny on
 * purpose: what the 224×224×3 cells measure is the input's way through the edge.
 */
export function buildImageModel(): Uint8Array {
  const { input, height, width, channels, classes } = IMAGE;
  const w = normalRows(channels, classes, 224);
  const b = normalRows(1, classes, 225);
  const nodes = [
    node("ReduceMean", [input], ["pooled"], { axes: attr.ints([1, 2]), keepdims: attr.int(0) }, { name: "gap" }),
    node("MatMul", ["pooled", "head.weight"], ["logits_mm"], {}, { name: "head/MatMul" }),
    node("Add", ["logits_mm", "head.bias"], ["logits"], {}, { name: "head/Add" }),
    node("Softmax", ["logits"], ["probabilities"], { axis: attr.int(-1) }, { name: "softmax" }),
    node("ArgMax", ["logits"], ["label"], { axis: attr.int(1), keepdims: attr.int(0) }, { name: "argmax" }),
  ];
  return encodeModel(
    graph({
      name: "img224_gap_linear",
      nodes,
      inputs: [valueInfo(input, "FP32", [-1, height, width, channels])],
      outputs: [valueInfo("probabilities", "FP32", [-1, classes]), valueInfo("label", "INT64", [-1])],
      initializers: [floatTensor("head.weight", [channels, classes], w), floatTensor("head.bias", [classes], b)],
    }),
  );
}

/** An image as a client sends it: 8-bit pixels scaled to [0, 1] as FP32. */
export function imagePixels(seed = 7): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(IMAGE.height * IMAGE.width * IMAGE.channels);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256) / 255;
  return out;
}

export interface Published {
  name: string;
  version: number;
  manifest: Manifest;
}

/** Publishes `bytes` under `name` with `serving` settings; the artifact is uploaded only when the edge lacks it. */
export async function publish(
  admin: AdminClient,
  privateKey: string,
  bytes: Uint8Array,
  base: Omit<Manifest, "version" | "name" | "serving"> & { serving?: Serving },
  name: string,
  serving: Serving | undefined,
  opts: { promote: boolean },
): Promise<Published> {
  const { serving: _drop, ...rest } = base;
  void _drop;
  const manifest = ManifestSchema.parse({ ...rest, name, version: 1, ...(serving ? { serving } : {}) });
  const { version: _v, ...unversioned } = manifest;
  void _v;
  const signed = await admin.publish(unversioned, bytes, privateKey, opts);
  return { name, version: signed.version, manifest: signed };
}

export async function imageManifest(bytes: Uint8Array): Promise<Manifest> {
  return manifestFor(bytes, { name: IMAGE.name, version: 1, quantization: "none", createdAt: "2026-12-02T00:00:00.000Z" });
}

export const fixtureBytes = (m: FixtureModel) => new Uint8Array(Buffer.from(m.onnx, "base64"));

/** An OIP infer request for `inputs`, as JSON (JSON out) or as binary tensor data (binary out). */
export function inferRequest(model: string, inputs: TensorInput[], encoding: "json" | "binary", parameters?: Record<string, unknown>): HttpRequest {
  const path = `/v2/models/${model}/infer`;
  if (encoding === "json") {
    const { body } = encodeRequest({ inputs, ...(parameters ? { parameters } : {}) }, () => false);
    return { method: "POST", path, headers: { "content-type": "application/json" }, body: Buffer.from(body) };
  }
  const { body, headerLength } = encodeRequest({ inputs, parameters: { ...parameters, binary_data_output: true } }, () => true);
  return { method: "POST", path, headers: { "content-type": BINARY_CONTENT_TYPE, [HEADER_LENGTH]: String(headerLength) }, body: Buffer.from(body) };
}

/** One row of `features` seeded standard-normal FP32 values (as bench:infer's inputs). */
export function rows(n: number, features: number, seed = 1000): Float32Array {
  return normalRows(n, features, seed);
}

export const IRIS_ROW = Float32Array.from([5.1, 3.5, 1.4, 0.2]);

/** The text the spam cells send (raw text, featurized at the edge). */
export const SPAM_TEXT = "WIN a FREE cruise!!! Claim your $500 prize now, click here to get the offer before it ends tonight";

/** The batch-1 row the benches send a sample model: its text for spam, the iris row, else seeded normal values. */
export function sampleRow(model: string, spec: TensorSpec): TensorInput {
  if (model.startsWith("spam")) return { name: spec.name, datatype: "BYTES", shape: [1], values: [SPAM_TEXT] };
  const features = spec.shape[1]!;
  return { name: spec.name, datatype: "FP32", shape: [1, features], values: model.startsWith("iris") ? IRIS_ROW : rows(1, features) };
}

/**
 * A JSON infer body whose first value is unique per call (cache misses): `first(k)` for the k-th
 * call, the rest fixed. Built from a template, so making one costs a string concatenation.
 */
export function uniqueJson(model: string, input: string, features: number, rest: Float32Array, first: (k: number) => number): { make: () => HttpRequest; sample: (k: number) => HttpRequest } {
  const tail = Array.from(rest.subarray(1), (v) => String(v)).join(",");
  const head = `{"inputs":[{"name":${JSON.stringify(input)},"datatype":"FP32","shape":[1,${features}],"data":[`;
  const at = (k: number): HttpRequest => ({
    method: "POST",
    path: `/v2/models/${model}/infer`,
    headers: { "content-type": "application/json" },
    body: Buffer.from(`${head}${first(k)}${features > 1 ? "," : ""}${tail}]}]}`),
  });
  let k = 0;
  return { make: () => at(k++), sample: at };
}
