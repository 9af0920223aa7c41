// Loader: knows one format (ONNX in R2). Refuses a version whose manifest signature does not
// verify or whose bytes do not hash to the manifest's sha256, then creates the session.
import { FeaturizerError, manifestFeaturizer } from "../../shared/featurize";
import { sha256Hex } from "../../shared/hash";
import type { Manifest } from "../../shared/manifest";
import { verifyManifest } from "../../shared/signing";
import { HttpError } from "../http/errors";
import { backend, ort, sessionOptions, startRuntime } from "../runtime/ort";
import type { LoadedSession } from "../runtime/sessions";
import { artifactKey } from "./pointer";
import type { SignedManifest } from "./registry";

export class ModelLoadError extends HttpError {
  constructor(manifest: Manifest, reason: string) {
    super(503, `model "${manifest.name}" version ${manifest.version} cannot be served: ${reason}`, { "retry-after": "5" });
    this.name = "ModelLoadError";
  }
}

export const sessionKey = (m: Manifest) => `${m.name}@${m.version}#${m.sha256}`;

export async function loadOnnx(bucket: R2Bucket, { manifest, signature }: SignedManifest, keys: string[]): Promise<LoadedSession> {
  const t0 = Date.now();
  if (!(await verifyManifest(manifest, signature, keys).catch(() => false))) {
    throw new ModelLoadError(manifest, "its signature does not verify with any configured SIGNING_PUBLIC_KEYS");
  }
  let featurizer;
  try {
    featurizer = manifestFeaturizer(manifest)?.featurizer ?? null;
  } catch (err) {
    if (err instanceof FeaturizerError) throw new ModelLoadError(manifest, err.message);
    throw err;
  }
  await startRuntime();
  const object = await bucket.get(artifactKey(manifest.sha256));
  if (!object) throw new ModelLoadError(manifest, "artifact missing from storage");
  const bytes = new Uint8Array(await object.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.sha256) {
    throw new ModelLoadError(manifest, `artifact hashes to ${digest}, the manifest says ${manifest.sha256}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions());
  } catch (err) {
    throw new ModelLoadError(manifest, `onnxruntime refused it (${err instanceof Error ? err.message : String(err)})`);
  }
  return { key: sessionKey(manifest), session, featurizer, bytes: bytes.byteLength, backend: backend(), loadMs: Date.now() - t0 };
}
