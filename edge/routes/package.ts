// Downloads for local execution (the client's browser mode), only of versions whose signed
// manifest opts in (serving.download). Public like the prediction routes: the model is meant to
// ship to browsers, and the client verifies what it gets (signature, then sha256) itself.
//   GET /v2/models/{name}[/versions/{v}]/package → {manifest, signature, artifact}
//   GET /v2/artifacts/{sha256}                    → the bytes (immutable)
import { Hono, type Context } from "hono";
import { servingOf, type Manifest } from "../../shared/manifest";
import { ArtifactNotFound, ModelNotFound } from "../errors";
import { requestContext, type AppEnv } from "../http/context";
import { artifactKey } from "../versions/artifacts";
import { registry } from "../versions/registry";

export const ARTIFACT_PATH = (sha256: string) => `/v2/artifacts/${sha256}`;

export interface Package {
  manifest: Manifest;
  signature: string;
  /** Path of the bytes on this edge (relative to its origin). */
  artifact: string;
}

export const packageRoutes = new Hono<AppEnv>()
  .get("/v2/models/:name/versions/:version/package", (c) => packageOf(c, c.req.param("version")))
  .get("/v2/models/:name/package", (c) => packageOf(c))
  .get("/v2/artifacts/:sha256", async (c) => {
    const sha256 = c.req.param("sha256");
    const missing = () => new ArtifactNotFound(`no downloadable artifact ${sha256.slice(0, 64)} (only versions whose manifest has serving.download are)`);
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw missing();
    if (!(await registry(c.env.DB).downloadable(sha256))) throw missing();
    const headers = {
      "cache-control": "public, max-age=31536000, immutable",
      etag: `"${sha256}"`,
      "content-type": "application/octet-stream",
    };
    // Content-addressed: a cached copy under this tag is always these bytes.
    if (c.req.header("if-none-match")?.split(",").some((t) => t.trim().replace(/^W\//, "") === headers.etag)) return c.body(null, 304, headers);
    const object = await c.env.ARTIFACTS.get(artifactKey(sha256));
    if (!object) throw missing();
    return c.body(object.body, 200, { ...headers, "content-length": String(object.size) });
  });

/**
 * The version a caller would be served (a pinned one, else inference's own routing: canary split
 * by caller and place), with its signature, when its manifest opts in.
 */
async function packageOf(c: Context<AppEnv>, version?: string): Promise<Response> {
  const { models } = c.get("isolate");
  const { manifest, variant } = await models.route(c.req.param("name") ?? "", version, requestContext(c));
  const signed = await models.pinned(manifest.name, String(manifest.version));
  if (!servingOf(signed.manifest).download) {
    throw new ModelNotFound(`model "${manifest.name}" version ${manifest.version} is not published for download (its manifest has no serving.download)`);
  }
  const body: Package = { manifest: signed.manifest, signature: signed.signature, artifact: ARTIFACT_PATH(manifest.sha256) };
  return c.json(body, 200, {
    "x-meridian-model-version": String(manifest.version),
    "x-meridian-variant": variant,
    // A pinned version's package never changes; the serving one moves with promotions and canaries.
    "cache-control": version === undefined ? "no-cache" : "public, max-age=3600",
  });
}
