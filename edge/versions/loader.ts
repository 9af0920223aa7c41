// Loader: knows one format (ONNX in R2) and is the one path that verifies a version and loads
// it, both when a version is published (which also checks the graph against the manifest) and
// when a PoP serves it. It refuses a version whose signature does not verify, whose featurizer is
// unknown or whose bytes do not hash to the manifest's sha256; a VersionRejected says why, and the
// caller decides what that means (a 400 for a push, an unavailable model for a PoP).
import { FeaturizerError, manifestFeaturizer, type Featurizer } from "../../shared/featurize";
import { bindingProblems } from "../../shared/features";
import { sha256Hex } from "../../shared/hash";
import { servingOf, type Manifest, type TensorSpec } from "../../shared/manifest";
import { OnnxFormatError } from "../../shared/onnx/errors";
import { readSignature } from "../../shared/onnx/inspect";
import { SignatureError, verifyManifest } from "../../shared/signing";
import { NotConfigured } from "../errors";
import { Batcher } from "../runtime/batcher";
import { WarmupFailed, warmUp } from "../runtime/infer";
import { backend, ort, ortModuleOf, sessionOptions, startRuntime } from "../runtime/ort";
import { DirectSession, type Run } from "../runtime/ort-direct";
import type { LoadedSession } from "../runtime/sessions";
import { artifactKey } from "./artifacts";
import type { SignedManifest } from "./registry";

export class VersionRejected extends Error {
  override name = "VersionRejected";
}

export const sessionKey = (m: Manifest) => `${m.name}@${m.version}#${m.sha256}`;

/** The model and version a session key names (what the cache's metrics are labelled with). */
export function sessionOf(key: string): { model: string; version: string } {
  const [model = "", version = ""] = key.split("#")[0]!.split("@");
  return { model, version };
}

export interface LoadOptions {
  /** Also check the graph's inputs and outputs against the manifest (at publish time). */
  checkGraph?: boolean;
}

export async function verifyAndLoad(bucket: R2Bucket, { manifest, signature }: SignedManifest, keys: string[], opts: LoadOptions = {}): Promise<LoadedSession> {
  const t0 = Date.now();
  if (!(await verified(manifest, signature, keys))) {
    throw new VersionRejected(`the signature of ${manifest.name} version ${manifest.version} does not verify with any configured key (SIGNING_PUBLIC_KEYS)`);
  }
  const featurizer = featurizerOf(manifest);
  const object = await bucket.get(artifactKey(manifest.sha256));
  if (!object) throw new VersionRejected(`artifact missing from storage (PUT /admin/artifacts/${manifest.sha256} uploads it)`);
  const bytes = new Uint8Array(await object.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.sha256) throw new VersionRejected(`artifact hashes to ${digest}, the manifest says ${manifest.sha256}`);
  if (bytes.byteLength !== manifest.size) throw new VersionRejected(`artifact is ${bytes.byteLength} bytes, the manifest says ${manifest.size}`);
  if (opts.checkGraph) {
    checkGraph(manifest, bytes);
    checkServing(manifest);
    checkFeatures(manifest);
  }
  await startRuntime();
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions());
  } catch (err) {
    throw new VersionRejected(`onnxruntime cannot load the artifact: ${err instanceof Error ? err.message : String(err)}`);
  }
  const direct = DirectSession.of(ortModuleOf(), session);
  const run: Run = direct?.run ?? ((feeds, names) => session.run(feeds, [...names]));
  const release = async () => {
    direct?.dispose();
    await session.release();
  };
  const tWarm = Date.now();
  let requests: number;
  try {
    requests = await warmUp(run, manifest);
  } catch (err) {
    await release();
    if (err instanceof WarmupFailed) throw new VersionRejected(err.message);
    throw err;
  }
  const batching = servingOf(manifest).batching;
  const batcher = batching ? new Batcher(run, batching) : null;
  const warmup = { requests, ms: Date.now() - tWarm };
  return { key: sessionKey(manifest), run, release, featurizer, batcher, warmup, bytes: bytes.byteLength, backend: backend(), loadMs: Date.now() - t0 };
}

async function verified(manifest: Manifest, signature: string, keys: string[]): Promise<boolean> {
  try {
    return await verifyManifest(manifest, signature, keys);
  } catch (err) {
    // A configured key that cannot be read is this edge's fault, not the version's.
    if (err instanceof SignatureError) throw new NotConfigured(err.message);
    throw err;
  }
}

function featurizerOf(manifest: Manifest): Featurizer | null {
  try {
    return manifestFeaturizer(manifest)?.featurizer ?? null;
  } catch (err) {
    if (err instanceof FeaturizerError) throw new VersionRejected(`manifest preprocessing: ${err.message}`);
    throw err;
  }
}

function checkGraph(manifest: Manifest, bytes: Uint8Array): void {
  let graph;
  try {
    graph = readSignature(bytes);
  } catch (err) {
    if (err instanceof OnnxFormatError) throw new VersionRejected(`artifact is not a valid ONNX model: ${err.message}`);
    throw err;
  }
  compare("input", manifest.inputs, graph.inputs);
  compare("output", manifest.outputs, graph.outputs);
}

/** Batching splits answers by rows: only for models whose every input and output starts with the batch. */
function checkServing(manifest: Manifest): void {
  if (!manifest.serving?.batching) return;
  const fixed = [...manifest.inputs, ...manifest.outputs].find((t) => t.shape[0] !== -1);
  if (fixed) {
    throw new VersionRejected(`serving.batching needs every input and output to have the batch as its first, dynamic dimension; "${fixed.name}" has shape [${fixed.shape.join(", ")}]`);
  }
  // Dynamic quantization scales each run by its whole input: merged requests would change each other's answers.
  if (manifest.quantization === "int8-dynamic") throw new VersionRejected("serving.batching is not allowed for int8-dynamic models (their activation scales span the whole batch)");
}

/** Feature views must fit the inputs they fill (shared/features.ts); every problem is named. */
function checkFeatures(manifest: Manifest): void {
  if (!manifest.features) return;
  const problems = bindingProblems(manifest.features, manifest.inputs);
  if (problems.length > 0) throw new VersionRejected(`manifest features do not match the model's inputs: ${problems.join("; ")}`);
}

function compare(kind: string, declared: TensorSpec[], actual: TensorSpec[]): void {
  const show = (t: TensorSpec) => `${t.name} ${t.datatype} [${t.shape.join(", ")}]`;
  const byName = new Map(actual.map((t) => [t.name, t]));
  for (const d of declared) {
    const a = byName.get(d.name);
    if (!a) throw new VersionRejected(`manifest ${kind} "${d.name}" is not in the graph, whose ${kind}s are ${actual.map(show).join("; ")}`);
    if (show(a) !== show(d)) throw new VersionRejected(`manifest ${kind} ${show(d)} does not match the graph's ${show(a)}`);
  }
  if (declared.length !== actual.length) {
    throw new VersionRejected(`the graph has ${kind}s the manifest does not declare: ${actual.filter((a) => !declared.some((d) => d.name === a.name)).map(show).join("; ")}`);
  }
}
