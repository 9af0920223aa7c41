// Checks a pushed version before RegistryDO records it: the whole serving path (signature,
// featurizer, stored bytes and their hash, onnxruntime loading it) plus the graph against the
// manifest. What a PoP would refuse to serve is refused here, as the client's mistake, and so is
// a model larger than a PoP can hold (checked before anything is loaded).
import { modelSizeRefusal } from "../../shared/limits";
import type { Manifest } from "../../shared/manifest";
import type { Config } from "../config";
import { InvalidInput, ModelTooLarge, NotConfigured } from "../errors";
import { VersionRejected, verifyAndLoad } from "./loader";
import { artifactKey } from "./artifacts";

export async function validateVersion(bucket: R2Bucket, manifest: Manifest, signature: string, config: Pick<Config, "signingKeys" | "maxModelBytes">): Promise<void> {
  const keys = config.signingKeys;
  if (keys.length === 0) throw new NotConfigured("no SIGNING_PUBLIC_KEYS configured: the edge cannot verify any version");
  // A missing artifact is the usual first mistake: name the route that fixes it.
  const stored = await bucket.head(artifactKey(manifest.sha256));
  if (!stored) {
    throw new InvalidInput(`artifact ${manifest.sha256} is not uploaded: PUT /admin/artifacts/${manifest.sha256} first`);
  }
  // Bytes stored under a higher limit (or put into R2 by hand): loading them here to validate
  // would cost this isolate what serving them would.
  const refusal = modelSizeRefusal(stored.size, { maxModelBytes: config.maxModelBytes });
  if (refusal) throw new ModelTooLarge(refusal);
  try {
    const loaded = await verifyAndLoad(bucket, { manifest, signature }, keys, { checkGraph: true });
    await loaded.release();
  } catch (err) {
    if (err instanceof VersionRejected) throw new InvalidInput(err.message);
    throw err;
  }
}
