// Admin API (bearer token): push artifacts and versions, move the serving pointer, read the
// registry. Pointer changes go through the model's RegistryDO, the only writer.
import { Hono, type Context } from "hono";
import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { modelSizeRefusal, type AdminLimits } from "../../shared/limits";
import { ManifestSchema, MODEL_NAME } from "../../shared/manifest";
import { describeZodError } from "../../shared/oip";
import type { Env } from "../env";
import { ArtifactNotFound, InvalidInput, LengthRequired, ModelNotFound, ModelTooLarge } from "../errors";
import { bearerAuth } from "../http/auth";
import { drain, readJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { declareViews } from "../features/views";
import { artifactKey } from "../versions/artifacts";
import { validateVersion } from "../versions/publish";
import { RolloutSpecSchema } from "../versions/rollout";
import { summarize } from "../metrics/summary";
import { RETENTION_MS } from "../metrics/aggregator-do";
import type { Outcome } from "../versions/registry-do";
import { events, models, versions } from "../versions/schema";

const PushSchema = z.object({ manifest: ManifestSchema, signature: z.string().min(1) });
const Expected = z.number().int().positive().nullable();
const PromoteSchema = z.object({ version: z.number().int().positive(), expected: Expected });
const RollbackSchema = z.object({ expected: Expected });
const CanarySchema = z.object({ version: z.number().int().positive(), percent: z.number().min(0).max(100), expected: Expected });
const ShadowSchema = CanarySchema;
/** A window: "90s", "5m", "1h" (at most the hour the aggregator keeps). */
const WINDOW = /^(\d{1,5})(s|m|h)$/;

export const adminRoutes = new Hono<AppEnv>();
adminRoutes.use("/admin/*", bearerAuth({ tokens: (c) => [c.get("isolate").config.adminToken], realm: "admin", setting: "ADMIN_TOKEN" }));

const registryOf = (env: Env, name: string) => env.REGISTRY.get(env.REGISTRY.idFromName(name));
const actorOf = (c: Context<AppEnv>) => c.req.header("x-meridian-actor")?.slice(0, 120) || "admin";

function modelName(c: Context<AppEnv>): string {
  const name = c.req.param("name") ?? "";
  if (!MODEL_NAME.test(name)) throw new InvalidInput(`invalid model name "${name}": use [a-z0-9][a-z0-9_-]{0,63}`);
  return name;
}

async function body<T>(c: Context<AppEnv>, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJson(c.req.raw, c.get("isolate").config.maxBodyBytes));
  if (!parsed.success) throw new InvalidInput(`invalid request: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

function answer<T>(c: Context<AppEnv>, outcome: Outcome<T>, status: 200 | 201 = 200): Response {
  if (outcome.ok) return c.json(outcome.value as object, status);
  const { ok: _, ...error } = outcome;
  return c.json(error, outcome.status);
}

// Artifacts are content-addressed; R2 is given the expected sha256 and refuses other bytes.
adminRoutes.put("/admin/artifacts/:sha256", async (c) => {
  const sha256 = c.req.param("sha256");
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new InvalidInput("artifact key must be the sha256 of its bytes (64 lowercase hex)");
  const length = Number(c.req.header("content-length"));
  if (!Number.isSafeInteger(length) || length <= 0) throw new LengthRequired("content-length is required for artifact uploads");
  // Refused before a byte is stored: a model no PoP can hold must not get as far as R2.
  const refusal = modelSizeRefusal(length, c.get("isolate").config);
  if (refusal) throw new ModelTooLarge(refusal);
  const existing = await c.env.ARTIFACTS.head(artifactKey(sha256));
  if (existing) {
    // Read the body to its end before answering: an HTTP/1.1 client still sending it would
    // otherwise never see the answer, or break the next request on that connection.
    await drain(c.req.raw.body);
    return c.json({ sha256, size: existing.size, created: false });
  }
  const body = c.req.raw.body;
  if (!body) throw new InvalidInput("artifact body is empty");
  const { readable, writable } = new FixedLengthStream(length);
  const piping = body.pipeTo(writable).catch(() => undefined);
  try {
    await c.env.ARTIFACTS.put(artifactKey(sha256), readable, { sha256 });
  } catch (err) {
    throw new InvalidInput(`artifact upload refused: the bytes do not hash to ${sha256} or do not match content-length (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    await piping;
  }
  return c.json({ sha256, size: length, created: true }, 201);
});

// What a push must fit: the CLI checks a model against these before it uploads anything.
adminRoutes.get("/admin/limits", (c) => {
  const { maxModelBytes, maxArtifactBytes, maxBodyBytes } = c.get("isolate").config;
  return c.json({ maxModelBytes, maxArtifactBytes, maxBodyBytes } satisfies AdminLimits);
});

// Whether the edge holds these bytes: a push asks first and skips uploading what is stored.
adminRoutes.get("/admin/artifacts/:sha256", async (c) => {
  const sha256 = c.req.param("sha256");
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new InvalidInput("artifact key must be the sha256 of its bytes (64 lowercase hex)");
  const existing = await c.env.ARTIFACTS.head(artifactKey(sha256));
  if (!existing) throw new ArtifactNotFound(`no artifact ${sha256}`);
  return c.json({ sha256, size: existing.size });
});

adminRoutes.post("/admin/models/:name/versions", async (c) => {
  const name = modelName(c);
  const { manifest, signature } = await body(c, PushSchema);
  if (manifest.name !== name) throw new InvalidInput(`manifest names model "${manifest.name}", the URL "${name}"`);
  await validateVersion(c.env.ARTIFACTS, manifest, signature, c.get("isolate").config);
  // Before the registry records the version: a view declared differently elsewhere refuses the push.
  await declareViews(c.env.DB, manifest);
  const outcome = await registryOf(c.env, name).register({ manifest, signature, actor: actorOf(c) });
  return outcome.ok ? c.json({ name, version: outcome.value.version, state: "validated" }, 201) : answer(c, outcome);
});

adminRoutes.post("/admin/models/:name/promote", async (c) => {
  const name = modelName(c);
  const { version, expected } = await body(c, PromoteSchema);
  return answer(c, withName(name, await registryOf(c.env, name).promote(name, version, expected, actorOf(c))));
});

adminRoutes.post("/admin/models/:name/rollback", async (c) => {
  const name = modelName(c);
  const { expected } = await body(c, RollbackSchema);
  return answer(c, withName(name, await registryOf(c.env, name).rollback(name, expected, actorOf(c))));
});

adminRoutes.post("/admin/models/:name/canary", async (c) => {
  const name = modelName(c);
  const { version, percent, expected } = await body(c, CanarySchema);
  return answer(c, withName(name, await registryOf(c.env, name).canary(name, version, percent, expected, actorOf(c))));
});

adminRoutes.post("/admin/models/:name/shadow", async (c) => {
  const name = modelName(c);
  const { version, percent, expected } = await body(c, ShadowSchema);
  return answer(c, withName(name, await registryOf(c.env, name).shadow(name, version, percent, expected, actorOf(c))));
});

adminRoutes.post("/admin/models/:name/rollout", async (c) => {
  const name = modelName(c);
  const spec = await body(c, RolloutSpecSchema);
  await known(c.env, name);
  return answer(c, await registryOf(c.env, name).startRollout(name, spec, actorOf(c)), 201);
});

adminRoutes.get("/admin/models/:name/rollout", async (c) => {
  const name = modelName(c);
  await known(c.env, name);
  const rollout = await registryOf(c.env, name).rolloutStatus();
  return c.json({ name, rollout });
});

adminRoutes.post("/admin/models/:name/rollout/abort", async (c) => {
  const name = modelName(c);
  await known(c.env, name);
  return answer(c, await registryOf(c.env, name).abortRollout(actorOf(c)));
});

// Per version (and PoP), over a window: request rate, outcomes, error rate, p50/p95/p99.
adminRoutes.get("/admin/models/:name/metrics", async (c) => {
  const name = modelName(c);
  await known(c.env, name);
  const windowMs = windowOf(c.req.query("window") ?? "5m");
  const to = Date.now();
  const w = await c.env.METRICS.get(c.env.METRICS.idFromName(name)).window(to - windowMs, to);
  const seconds = (w.to - w.from) / 1000;
  return c.json({ name, window: { from: new Date(w.from).toISOString(), to: new Date(w.to).toISOString(), seconds }, versions: summarize(w.pops, seconds), pops: summarize(w.pops, seconds, { byPop: true }) });
});

adminRoutes.get("/admin/models", async (c) => {
  const names = await drizzle(c.env.DB).select({ name: models.name }).from(models).orderBy(asc(models.name));
  const list = await Promise.all(
    names.map(async ({ name }) => {
      const s = await registryOf(c.env, name).state();
      return { name, serving: s.serving, canary: s.canary, latest: s.nextVersion > 1 ? s.nextVersion - 1 : null };
    }),
  );
  return c.json({ models: list });
});

adminRoutes.get("/admin/models/:name", async (c) => {
  const name = modelName(c);
  const rows = await drizzle(c.env.DB).select().from(versions).where(eq(versions.model, name)).orderBy(asc(versions.version));
  if (rows.length === 0) throw new ModelNotFound(`unknown model "${name}"`);
  const s = await registryOf(c.env, name).state();
  return c.json({
    name,
    serving: s.serving,
    canary: s.canary,
    seq: s.seq,
    nextVersion: s.nextVersion,
    versions: rows.map((r) => ({
      version: r.version,
      state: r.state,
      sha256: r.sha256,
      size: r.size,
      createdAt: r.createdAt,
      pushedBy: r.pushedBy,
      quantization: r.manifest.quantization,
    })),
  });
});

adminRoutes.get("/admin/models/:name/history", async (c) => {
  const name = modelName(c);
  const rows = await drizzle(c.env.DB).select().from(events).where(eq(events.model, name)).orderBy(asc(events.id));
  if (rows.length === 0) throw new ModelNotFound(`unknown model "${name}"`);
  return c.json({
    events: rows.map((e) => ({ at: e.at, action: e.action, from: e.fromVersion, to: e.toVersion, percent: e.percent, seq: e.seq, actor: e.actor, note: e.note })),
  });
});

adminRoutes.get("/admin/models/:name/status", async (c) => {
  const name = modelName(c);
  const stub = registryOf(c.env, name);
  const [s, pops] = await Promise.all([stub.state(), stub.pops()]);
  if (s.seq === 0) throw new ModelNotFound(`unknown model "${name}"`);
  return c.json({ serving: s.serving, canary: s.canary, seq: s.seq, pops });
});

/** A model the registry knows (has a pointer or a pushed version), else ModelNotFound. */
async function known(env: Env, name: string): Promise<void> {
  const s = await registryOf(env, name).state();
  if (s.nextVersion === 1) throw new ModelNotFound(`unknown model "${name}"`);
}

function windowOf(text: string): number {
  const m = WINDOW.exec(text);
  if (!m) throw new InvalidInput(`invalid window "${text.slice(0, 32)}": use a number and s, m or h (90s, 5m, 1h)`);
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
  if (ms < 1000 || ms > RETENTION_MS) throw new InvalidInput(`window ${text} is out of range: 1s to 1h (what the aggregator keeps)`);
  return ms;
}

function withName<T extends object>(name: string, outcome: Outcome<T>): Outcome<T & { name: string }> {
  return outcome.ok ? { ok: true, value: { name, ...outcome.value } } : outcome;
}
