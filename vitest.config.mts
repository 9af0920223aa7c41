import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { generateKeyPair } from "./shared/signing";

export default defineConfig({
  test: {
    projects: [
      {
        // Edge code runs inside workerd (Miniflare), with the bindings from wrangler.toml plus
        // test credentials: an admin token and a signing key pair made for this run.
        plugins: [
          cloudflareTest(async () => {
            const keys = await generateKeyPair();
            return {
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: await readD1Migrations("./migrations"),
                  ADMIN_TOKEN: "test-admin-token",
                  SIGNING_PUBLIC_KEYS: keys.publicKey,
                  TEST_SIGNING_KEY: keys.privateKey,
                  POINTER_TTL_MS: "0",
                  // Every request reports at once: a deferred report would hold each test request open.
                  METRICS_FLUSH_MS: "0",
                  MAX_ARTIFACT_BYTES: String(2 << 20),
                  // Below the upload cap, so an upload can meet the model ceiling (edge/versions/limits.test.ts).
                  MAX_MODEL_BYTES: String(3 << 19),
                },
              },
            };
          }),
        ],
        test: {
          name: "edge",
          // Beside the code they test; support (client, seeding, PoPs) in test/edge.
          include: ["edge/**/*.test.ts"],
          globalSetup: ["test/setup/models.ts"],
          testTimeout: 30_000,
          // Seeding publishes whole models (load, warm-up) on a busy 2-core machine.
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "node",
          // Beside the code they test; whole-system tests (e2e, bundle, fuzz) in test/node.
          include: ["{shared,trainer,cli,dev,client}/**/*.test.ts", "test/node/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
