import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../../edge/env";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      ADMIN_TOKEN: string;
      TEST_SIGNING_KEY: string;
    }
  }
}
