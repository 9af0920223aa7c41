// A manifest for ONNX bytes: inputs, outputs, sha256 and size read from the model itself.
import { sha256Hex } from "../hash";
import { ManifestSchema, type Manifest, type ManifestInput, type Quantization } from "../manifest";
import { readSignature } from "./inspect";

export type ManifestOptions = {
  name: string;
  version: number;
  quantization: Quantization;
  labels?: Record<string, string[]>;
  metrics?: Record<string, number>;
  preprocessing?: ManifestInput["preprocessing"];
  /** ISO timestamp; defaults to now. Pass one for reproducible manifests. */
  createdAt?: string;
  /** How the edge serves it (cache, batching, warm-up); absent: the defaults. */
  serving?: ManifestInput["serving"];
  /** Feature views the edge fills inputs from (shared/features.ts). */
  features?: ManifestInput["features"];
};

/** A validated Manifest whose signature, sha256 and size come from the model bytes. */
export async function manifestFor(bytes: Uint8Array, opts: ManifestOptions): Promise<Manifest> {
  const sig = readSignature(bytes);
  const input: ManifestInput = {
    name: opts.name,
    version: opts.version,
    sha256: await sha256Hex(bytes),
    size: bytes.byteLength,
    inputs: sig.inputs,
    outputs: sig.outputs,
    quantization: opts.quantization,
    preprocessing: opts.preprocessing ?? null,
    labels: opts.labels ?? {},
    metrics: opts.metrics ?? {},
    createdAt: opts.createdAt ?? new Date().toISOString(),
    ...(opts.serving ? { serving: opts.serving } : {}),
    ...(opts.features ? { features: opts.features } : {}),
  };
  return ManifestSchema.parse(input);
}
