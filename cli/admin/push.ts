// The push flow: manifest → the edge's size limits (GET /admin/limits) → streamed artifact upload →
// next version number, signed → registered. The artifact goes first because the edge validates a
// version against the stored bytes.
// Deriving a manifest reads the file into memory once (the ONNX graph must be parsed); the
// upload itself always streams from disk.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { modelSizeRefusal } from "../../shared/limits";
import { bindingProblems, parseBindings, resolveBindings, type BindingEntry, type FeatureView } from "../../shared/features";
import { ManifestSchema, ServingSchema, type Manifest, type Quantization, type Serving } from "../../shared/manifest";
import { manifestFor } from "../../shared/onnx/manifest";
import { AdminError, uploadFile, type AdminClient } from "./client";

export class PushError extends Error {
  override name = "PushError";
}

export type Labels = Record<string, string[]> | string[];

export interface PushOptions {
  file: string;
  /** Required unless the manifest file names the model. */
  name?: string;
  manifestFile?: string;
  quantization?: Quantization;
  /** A bare list labels the first output. */
  labels?: Labels;
  /** Serving settings for the manifest (replacing a --manifest file's). */
  serving?: Serving;
  /** Feature views that fill inputs (replacing a --manifest file's); a view named without its definition is looked up on the edge. */
  features?: BindingEntry[];
  privateKey: string;
  client: AdminClient;
  /** Called once with the byte total, then with each chunk's size. */
  onUploadStart?: (size: number) => void;
  onProgress?: (bytes: number) => void;
}

export interface PushResult {
  name: string;
  version: number;
  /** A 201 from the versions route means the edge verified hash, graph and signature. */
  state: "validated";
  sha256: string;
  size: number;
  /** false when the edge already had these bytes (content-addressed). */
  artifactCreated: boolean;
}

export async function push(opts: PushOptions): Promise<PushResult> {
  const derived = withLabels(opts.manifestFile ? await manifestFromFile(opts) : await buildManifest(opts), opts.labels);
  const served = opts.serving ? { ...derived, serving: opts.serving } : derived;
  const manifest = opts.features ? { ...served, features: await resolveBindings(opts.features, (name) => definedView(opts.client, name)) } : served;
  // The edge would refuse views that do not fit the inputs: refused here, before any upload.
  const problems = manifest.features ? bindingProblems(manifest.features, manifest.inputs) : [];
  if (problems.length > 0) throw new PushError(`--features do not match the model's inputs: ${problems.join("; ")}`);
  await checkSize(opts.client, manifest.size);
  opts.onUploadStart?.(manifest.size);
  const artifact = await uploadFile(opts.client, opts.file, manifest.sha256, manifest.size, opts.onProgress);
  // register() takes the next version number, signs with it, and re-signs on a 409.
  const { version: _, ...unversioned } = manifest;
  const { version } = await opts.client.register(unversioned, opts.privateKey);
  return { name: manifest.name, version, state: "validated", sha256: manifest.sha256, size: manifest.size, artifactCreated: artifact.created };
}

/** A model the edge would refuse for its size is refused before any of it is uploaded. */
async function checkSize(client: AdminClient, size: number): Promise<void> {
  const limits = await client.limits();
  const refusal = limits && modelSizeRefusal(size, limits);
  if (refusal) throw new PushError(refusal);
}

/** The manifest derived from the ONNX graph itself (inputs, outputs, sha256, size). */
async function buildManifest(opts: PushOptions): Promise<Manifest> {
  if (!opts.name) throw new PushError("--name is required (or pass --manifest with a name)");
  const bytes = new Uint8Array(await readFile(opts.file));
  try {
    return await manifestFor(bytes, {
      name: opts.name,
      version: 1, // placeholder: replaced by the registry's next version before signing
      quantization: opts.quantization ?? "none",
    });
  } catch (err) {
    throw new PushError(`${opts.file}: ${firstLine(err)}`);
  }
}

/** A hand-written manifest; it must describe exactly the bytes being pushed. */
async function manifestFromFile(opts: PushOptions): Promise<Manifest> {
  const file = opts.manifestFile!;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new PushError(`cannot read manifest ${file}: ${firstLine(err)}`);
  }
  if (opts.name && raw.name !== undefined && raw.name !== opts.name) {
    throw new PushError(`--name ${opts.name} does not match the manifest's name ${String(raw.name)}`);
  }
  const merged = {
    createdAt: new Date().toISOString(),
    ...raw,
    name: opts.name ?? raw.name,
    version: 1, // placeholder, as above
    ...(opts.quantization ? { quantization: opts.quantization } : {}),
  };
  const parsed = ManifestSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PushError(`manifest ${file}: ${issue.path.join(".") || "body"}: ${issue.message}`);
  }
  const { sha256, size } = await hashFile(opts.file);
  if (parsed.data.size !== size) throw new PushError(`manifest ${file} says size ${parsed.data.size} but ${opts.file} has ${size} bytes`);
  if (parsed.data.sha256 !== sha256) throw new PushError(`manifest ${file} sha256 ${parsed.data.sha256} does not match ${opts.file} (${sha256})`);
  return parsed.data;
}

async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return { sha256: hash.digest("hex"), size: (await stat(file)).size };
}

function withLabels(manifest: Manifest, labels: Labels | undefined): Manifest {
  if (!labels) return manifest;
  const byOutput = Array.isArray(labels) ? { [manifest.outputs[0]!.name]: labels } : labels;
  const unknown = Object.keys(byOutput).find((k) => !manifest.outputs.some((o) => o.name === k));
  if (unknown) throw new PushError(`--labels names output "${unknown}", but the model's outputs are ${manifest.outputs.map((o) => o.name).join(", ")}`);
  return { ...manifest, labels: byOutput };
}

/** `--labels` JSON: {output: [labels]} or a bare array (the usual single-classifier case). */
export function parseLabels(text: string): Labels {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PushError(`--labels is not JSON: ${text.slice(0, 60)}`);
  }
  const isList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
  if (isList(value)) return value;
  if (value && typeof value === "object" && Object.values(value).every(isList)) return value as Record<string, string[]>;
  throw new PushError('--labels must be ["a","b",...] or {"output": ["a","b",...]}');
}

/** `--serving` JSON: the manifest's serving section, checked as the edge checks it (the rest, such as a batch dimension, at registration). */
export function parseServing(text: string): Serving {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PushError(`--serving is not JSON: ${text.slice(0, 60)}`);
  }
  const parsed = ServingSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new PushError(`--serving: ${issue.path.join(".") || "value"}: ${issue.message}`);
}

/** `--features` JSON: the manifest's feature views, each with the input it fills (shared/features.ts). */
/** A view named by --features, as the edge recorded it (the signed manifest carries it whole). */
async function definedView(client: AdminClient, name: string): Promise<FeatureView> {
  try {
    return await client.featureView(name);
  } catch (err) {
    if (err instanceof AdminError && err.status === 404) throw new PushError(`--features names view "${name}", which is not defined: define it with \`meridian features define\`, or spell it out (entity, consistency, features)`);
    throw err;
  }
}

export function parseFeatures(text: string): BindingEntry[] {
  const parsed = parseBindings(text);
  if (parsed.ok) return parsed.bindings;
  throw new PushError(`--features: ${parsed.error}`);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}
