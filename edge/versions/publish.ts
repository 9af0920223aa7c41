// Checks a pushed version before RegistryDO records it: the whole serving path (signature,
// featurizer, stored bytes and their hash, onnxruntime loading it) plus the graph against the
// manifest. What a PoP would refuse to serve is refused here, as the client's mistake.
import type { Manifest } from "../../shared/manifest";
import { InvalidInput, NotConfigured } from "../errors";
import { VersionRejected, verifyAndLoad } from "./loader";
import { artifactKey } from "./artifacts";

export async function validateVersion(bucket: R2Bucket, manifest: Manifest, signature: string, keys: string[]): Promise<void> {
  if (keys.length === 0) throw new NotConfigured("no SIGNING_PUBLIC_KEYS configured: the edge cannot verify any version");
  // A missing artifact is the usual first mistake: name the route that fixes it.
  if (!(await bucket.head(artifactKey(manifest.sha256)))) {
    throw new InvalidInput(`artifact ${manifest.sha256} is not uploaded: PUT /admin/artifacts/${manifest.sha256} first`);
  }
  try {
    const loaded = await verifyAndLoad(bucket, { manifest, signature }, keys, { checkGraph: true });
    await loaded.session.release();
  } catch (err) {
    if (err instanceof VersionRejected) throw new InvalidInput(err.message);
    throw err;
  }
}
