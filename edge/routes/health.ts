// Server health and metadata (OIP v2).
import { Hono } from "hono";
import type { AppEnv } from "../http/context";
import { faults } from "../http/errors";
import { runtimeState, startRuntime } from "../runtime/ort";

/** A new isolate's runtime takes ~0.2–0.5 s to start: readiness waits that long, not longer. */
const READY_WAIT_MS = 2_000;

export const SERVER = { name: "meridian", version: "0.1.0", extensions: ["classification"] };

export const health = new Hono<AppEnv>()
  .get("/v2/health/live", (c) => c.json({ live: true }))
  .get("/v2/health/ready", async (c) => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    await Promise.race([startRuntime(), new Promise((r) => (timer = setTimeout(r, READY_WAIT_MS)))]);
    clearTimeout(timer);
    const runtime = runtimeState();
    let registry = "ok";
    try {
      await c.env.DB.prepare("SELECT 1").first();
    } catch (err) {
      registry = err instanceof Error ? err.message : String(err);
    }
    const ready = runtime.status === "ready" && registry === "ok";
    const { mesh, models, sessions, config } = c.get("isolate");
    const peers = config.peers.length ? { peers: { breakers: mesh.peerBreakers.states(), probes: mesh.health.snapshot() } } : {};
    const body = { ready, runtime, registry, models: models.status(), sessions: sessions.stats(), faults, ...peers };
    if (ready) return c.json(body);
    c.header("retry-after", "1");
    return c.json({ error: "not ready", ...body }, 503);
  })
  .get("/v2", (c) => c.json(SERVER))
  .get("/v2/", (c) => c.json(SERVER));
