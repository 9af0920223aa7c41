// The operator's loop against a real `wrangler dev`, through the CLI: `meridian rollout` starts a
// rollout, wrangler dev (workerd and its Durable Objects) is stopped and started again on the
// same state mid-step, and the rollout goes on by itself to 100% under load; `meridian rollout
// status` and `meridian metrics` show it, and bad flags get one-line errors.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startDev, startSeeded, type DevServer } from "../../dev/local";
import { IRIS_LABELS, irisSpec, irisWeights } from "../../dev/samples/iris";
import { AdminClient } from "../../shared/admin-client";
import type { Rollout } from "../../shared/fleet";
import { manifestFor } from "../../shared/onnx/manifest";
import { buildMlpFp32 } from "../../shared/onnx/mlp";
import { generateKeyPair } from "../../shared/signing";
import { runMeridian } from "./meridian";

const TOKEN = "rollout-token";
const VARS = { METRICS_FLUSH_MS: "500", POINTER_TTL_MS: "500", RATE_LIMIT_PER_MINUTE: "0" };
const state = mkdtempSync(join(tmpdir(), "meridian-rollout-"));
let server: DevServer;
let port: number;
let credentials: Awaited<ReturnType<typeof startSeeded>>["credentials"];

const meridian = (args: string[]) => runMeridian(args, { MERIDIAN_URL: server.url, MERIDIAN_TOKEN: TOKEN });

/**
 * Two clients predicting in a loop. `statuses` counts answers outside the restart window; a
 * request in flight while wrangler dev stops or starts (restart() marks the window) may lose its
 * Durable Object mid-call (a 503 with Retry-After, the degraded path) and is counted apart.
 */
function steadyLoad() {
  let running = true;
  const statuses: Record<number, number> = {};
  const duringRestart: Record<number, number> = {};
  const restart = { from: Infinity, to: Infinity };
  let n = 0;
  const loop = async () => {
    while (running) {
      const t0 = Date.now();
      try {
        const res = await fetch(`${server.url}/v2/models/iris/infer`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-user-id": `u${n++}` },
          body: JSON.stringify({ inputs: [{ name: "measurements", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }),
        });
        await res.arrayBuffer();
        const tally = t0 <= restart.to && Date.now() >= restart.from ? duringRestart : statuses;
        tally[res.status] = (tally[res.status] ?? 0) + 1;
      } catch {
        await new Promise((r) => setTimeout(r, 50)); // wrangler dev is restarting
      }
    }
  };
  const loops = [loop(), loop()];
  return {
    statuses,
    duringRestart,
    /** Runs `f` (stopping and starting the server) as the restart window. */
    async restart(f: () => Promise<void>): Promise<void> {
      restart.from = Date.now();
      try {
        await f();
      } finally {
        restart.to = Date.now();
      }
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

beforeAll(async () => {
  port = await freePort();
  const keys = await generateKeyPair();
  const seeded = await startSeeded({ stateDir: state, port, vars: VARS, credentials: { adminToken: TOKEN, ...keys } });
  server = seeded;
  credentials = seeded.credentials;
  // v2 of iris: the same model again, so every gate passes on its merits.
  const bytes = buildMlpFp32(irisSpec(irisWeights().layers));
  const { version: _v, ...manifest } = await manifestFor(bytes, { name: "iris", version: 1, quantization: "none", labels: { probabilities: [...IRIS_LABELS] } });
  const client = new AdminClient(server.url, TOKEN);
  await client.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
  await client.register(manifest, credentials.privateKey);
}, 180_000);

afterAll(async () => {
  await server?.stop();
  rmSync(state, { recursive: true, force: true });
});

describe("meridian rollout against wrangler dev", () => {
  it("refuses bad flags and bad rollouts with one line", async () => {
    const steps = await meridian(["rollout", "iris", "2", "--steps", "5,1,100"]);
    expect(steps.code).toBe(1);
    expect(steps.stderr.trim()).toMatch(/^meridian: rollout failed: 400 invalid request: .*steps must increase: 5,1,100/);
    const rate = await meridian(["rollout", "iris", "2", "--max-error-rate", "150%"]);
    expect(rate.code).toBe(1);
    expect(rate.stderr).toMatch(/a rate is from 0 to 1, or a percentage/);
    const unknown = await meridian(["rollout", "iris", "9"]);
    expect(unknown.stderr.trim()).toMatch(/^meridian: rollout failed: 404 model "iris" has no version 9$/);
    const none = await meridian(["rollout", "abort", "iris"]);
    expect(none.stderr.trim()).toMatch(/^meridian: rollout failed: 409 no rollout is running$/);
  });

  it("goes on to 100% by itself after wrangler dev restarts mid-step", async () => {
    const load = steadyLoad();
    try {
      const started = await meridian(["rollout", "iris", "2", "--steps", "50,100", "--interval", "4s", "--min-requests", "20", "--max-p99-ratio", "100"]);
      expect(started.code, started.stderr).toBe(0);
      expect(started.stdout).toMatch(/^iris: rollout of v2 over v1: running, phase 1\/1, step 1\/2 \(50%\)/);
      expect(started.stdout).toMatch(/start\s+50%\s+everywhere: started by \S+: v1 → v2; steps 50,100% every 4s/);

      // Mid-step: stop workerd and its Durable Objects, start again on the same state.
      await new Promise((r) => setTimeout(r, 1500));
      await load.restart(async () => {
        await server.stop();
        server = await startDev({ stateDir: state, port, vars: { ...VARS, ADMIN_TOKEN: TOKEN, SIGNING_PUBLIC_KEYS: credentials.publicKey } });
      });

      const deadline = Date.now() + 90_000;
      let rollout: Rollout | null = null;
      while (Date.now() < deadline) {
        const s = await meridian(["rollout", "status", "iris", "--json"]);
        expect(s.code, s.stderr).toBe(0);
        rollout = (JSON.parse(s.stdout) as { rollout: Rollout }).rollout;
        if (rollout.state !== "running") break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(rollout?.state, JSON.stringify(rollout?.history)).toBe("succeeded");
      // A step whose gates lacked --min-requests when its interval ended waits ("wait") and then
      // advances: a loaded machine serves the steady load slower. Nothing else may happen.
      expect(rollout!.history.map((h) => h.action).filter((a) => a !== "wait")).toEqual(["start", "step", "complete"]);
      const human = await meridian(["rollout", "status", "iris"]);
      expect(human.stdout).toMatch(/^iris: rollout of v2 over v1: succeeded/);
      expect(human.stdout).toMatch(/complete\s+100%\s+everywhere: complete: version 2 serves everyone/);
    } finally {
      await load.stop();
    }
    // No 5xx outside the restart; inside it, only the degraded path's 503.
    expect(Object.keys(load.statuses).filter((s) => Number(s) >= 500)).toEqual([]);
    expect(Object.keys(load.duringRestart).filter((s) => Number(s) >= 500 && s !== "503")).toEqual([]);
    const list = await meridian(["list", "--json"]);
    expect((JSON.parse(list.stdout) as { models: Array<{ name: string; serving: number }> }).models.find((m) => m.name === "iris")!.serving).toBe(2);

    const metrics = await meridian(["metrics", "iris", "--window", "5m"]);
    expect(metrics.code, metrics.stderr).toBe(0);
    expect(metrics.stdout).toMatch(/^VERSION\s+VARIANT\s+POP\s+REQUESTS\s+REQ\/S\s+ERRORS\s+4XX\s+P50\s+P95\s+P99\s+RUN P99/m);
    expect(metrics.stdout).toMatch(/^v2\s+canary\s+all\s+\d+/m);
    expect(metrics.stdout).toMatch(/^v1\s+stable\s+all\s+\d+/m);
    const history = await meridian(["history", "iris"]);
    expect(history.stdout).toMatch(/promote\s+v1\s+v2\s+100%\s+rollout\s+complete: version 2 serves everyone/);
  }, 180_000);
});
