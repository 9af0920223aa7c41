// Checks a pushed version before RegistryDO records it: the signature, the stored artifact's
// hash, that it parses as ONNX, that its graph matches the manifest, that its featurizer (if any) is
// known and fits the input, and that onnxruntime loads it.
import { FeaturizerError, manifestFeaturizer } from "../../shared/featurize";
import { sha256Hex } from "../../shared/hash";
import type { Manifest, TensorSpec } from "../../shared/manifest";
import { OnnxFormatError } from "../../shared/onnx/errors";
import { readSignature } from "../../shared/onnx/inspect";
import { SignatureError, verifyManifest } from "../../shared/signing";
import { HttpError, badRequest } from "../http/errors";
import { ort, sessionOptions, startRuntime } from "../runtime/ort";
import { artifactKey } from "./pointer";

export async function checkSignature(manifest: Manifest, signature: string, keys: string[]): Promise<void> {
  if (keys.length === 0) throw new HttpError(503, "no SIGNING_PUBLIC_KEYS configured: the edge cannot verify any version");
  let valid: boolean;
  try {
    valid = await verifyManifest(manifest, signature, keys);
  } catch (err) {
    if (err instanceof SignatureError) throw new HttpError(503, err.message);
    throw err;
  }
  if (!valid) throw badRequest(`the signature of ${manifest.name} version ${manifest.version} does not verify with any configured key`);
}

export async function validateVersion(bucket: R2Bucket, manifest: Manifest, signature: string, keys: string[]): Promise<void> {
  await checkSignature(manifest, signature, keys);
  const object = await bucket.get(artifactKey(manifest.sha256));
  if (!object) throw badRequest(`artifact ${manifest.sha256} is not uploaded: PUT /admin/artifacts/${manifest.sha256} first`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.sha256) throw badRequest(`stored artifact hashes to ${digest}, the manifest says ${manifest.sha256}`);
  if (bytes.byteLength !== manifest.size) throw badRequest(`artifact is ${bytes.byteLength} bytes, the manifest says ${manifest.size}`);
  let graph;
  try {
    graph = readSignature(bytes);
  } catch (err) {
    if (err instanceof OnnxFormatError) throw badRequest(`artifact is not a valid ONNX model: ${err.message}`);
    throw err;
  }
  compare("input", manifest.inputs, graph.inputs);
  compare("output", manifest.outputs, graph.outputs);
  try {
    manifestFeaturizer(manifest);
  } catch (err) {
    if (err instanceof FeaturizerError) throw badRequest(`manifest preprocessing: ${err.message}`);
    throw err;
  }
  await startRuntime();
  try {
    const session = await ort.InferenceSession.create(bytes, sessionOptions());
    await session.release();
  } catch (err) {
    throw badRequest(`onnxruntime cannot load the artifact: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function compare(kind: string, declared: TensorSpec[], actual: TensorSpec[]): void {
  const show = (t: TensorSpec) => `${t.name} ${t.datatype} [${t.shape.join(", ")}]`;
  const byName = new Map(actual.map((t) => [t.name, t]));
  for (const d of declared) {
    const a = byName.get(d.name);
    if (!a) throw badRequest(`manifest ${kind} "${d.name}" is not in the graph, whose ${kind}s are ${actual.map(show).join("; ")}`);
    if (show(a) !== show(d)) throw badRequest(`manifest ${kind} ${show(d)} does not match the graph's ${show(a)}`);
  }
  if (declared.length !== actual.length) {
    throw badRequest(`the graph has ${kind}s the manifest does not declare: ${actual.filter((a) => !declared.some((d) => d.name === a.name)).map(show).join("; ")}`);
  }
}
