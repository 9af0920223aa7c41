// Model metadata and readiness (OIP v2).
import { Hono, type Context } from "hono";
import type { Manifest } from "../../shared/manifest";
import { requestContext, type AppEnv } from "../http/context";

export const modelRoutes = new Hono<AppEnv>()
  .get("/v2/models/:name/versions/:version/ready", (c) => ready(c, c.req.param("version")))
  .get("/v2/models/:name/ready", (c) => ready(c))
  .get("/v2/models/:name/versions/:version", (c) => metadata(c, c.req.param("version")))
  .get("/v2/models/:name", (c) => metadata(c));

async function metadata(c: Context<AppEnv>, version?: string): Promise<Response> {
  const { manifest } = await resolve(c, version);
  const versions = await c.get("isolate").models.versions(manifest.name);
  return c.json({
    name: manifest.name,
    versions: versions.map(String),
    platform: "onnxruntime_onnx",
    inputs: manifest.inputs,
    outputs: manifest.outputs,
    properties: {
      version: String(manifest.version),
      sha256: manifest.sha256,
      quantization: manifest.quantization,
      created_at: manifest.createdAt,
      // A text model also takes its input as BYTES [-1] raw text, featurized by this featurizer.
      ...(manifest.preprocessing ? { preprocessing: manifest.preprocessing } : {}),
      // Inputs the edge fills from feature views of the entity a request names (not the caller's to send).
      ...(manifest.features ? { features: manifest.features } : {}),
    },
  });
}

/** Ready means loaded and warmed up in this isolate; asking loads it (a 503 says why it cannot be). */
async function ready(c: Context<AppEnv>, version?: string): Promise<Response> {
  const { manifest } = await resolve(c, version);
  const lease = await c.get("isolate").models.acquire(manifest);
  lease.release();
  return c.json({ name: manifest.name, version: String(manifest.version), ready: true, warmup: lease.loaded.warmup });
}

function resolve(c: Context<AppEnv>, version?: string): Promise<{ manifest: Manifest }> {
  return c.get("isolate").models.route(c.req.param("name") ?? "", version, requestContext(c));
}
