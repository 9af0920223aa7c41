// Model metadata and readiness (OIP v2).
import { Hono } from "hono";
import type { Manifest } from "../../shared/manifest";
import type { AppEnv } from "../env";

export const modelRoutes = new Hono<AppEnv>();

async function metadata(manifest: Manifest, versions: number[]) {
  return {
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
    },
  };
}

modelRoutes.get("/v2/models/:name/versions/:version/ready", async (c) => ready(c.var.models, c.req.param("name"), c.req.param("version")).then((b) => c.json(b)));
modelRoutes.get("/v2/models/:name/ready", async (c) => ready(c.var.models, c.req.param("name")).then((b) => c.json(b)));

modelRoutes.get("/v2/models/:name/versions/:version", async (c) => {
  const manifest = await c.var.models.resolve(c.req.param("name"), c.req.param("version"));
  return c.json(await metadata(manifest, await c.var.models.versions(manifest.name)));
});
modelRoutes.get("/v2/models/:name", async (c) => {
  const manifest = await c.var.models.resolve(c.req.param("name"));
  return c.json(await metadata(manifest, await c.var.models.versions(manifest.name)));
});

/** Ready means loaded in this isolate; asking loads it (a 503 says why it cannot be). */
async function ready(models: AppEnv["Variables"]["models"], name: string, version?: string) {
  const manifest = await models.resolve(name, version);
  const lease = await models.acquire(manifest);
  lease.release();
  return { name: manifest.name, version: String(manifest.version), ready: true };
}
