import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../../edge/env";
import type { Manifest } from "../../shared/manifest";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** Built in Node by test/setup/models.ts; onnx is base64. */
    models: Array<{ manifest: Manifest; onnx: string }>;
  }
}
