// PUT /admin/features/{view}: a batch of rows {entity_id, values, event_time} of a declared view
// (admin token). Answers per-row: {view, accepted, superseded, rejected: [{index, entity_id,
// error, retryable?}]}; a batch that is not {rows: [...]} at all is a 400.
// POST /admin/features: defines a view on its own (a FeatureView), before any model names it:
// 201 when recorded, 200 when the same definition was, 400 for another one under that name.
// GET /admin/features/{view}: the view's recorded definition.
// GET /admin/features/{view}/log[?cursor=]: the view's offline log objects, a page at a time;
// GET /admin/features/{view}/log/{id}: one object's rows as JSON lines (what `features export` folds).
import { Hono } from "hono";
import { z } from "zod";
import { FeatureViewSchema, VIEW_NAME, viewProblems } from "../../shared/features";
import { describeZodError } from "../../shared/oip";
import { InvalidInput, LogObjectNotFound } from "../errors";
import type { CfLocation } from "../geo/peers";
import { bearerAuth } from "../http/auth";
import { readJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { declareView, viewNamed } from "../features/views";
import { LOG_ID, listLog, readLog } from "../features/log";
import { writeRows } from "../features/write";

export const featureRoutes = new Hono<AppEnv>();
featureRoutes.use("/admin/features/*", bearerAuth({ tokens: (c) => [c.get("isolate").config.adminToken], realm: "admin", setting: "ADMIN_TOKEN" }));

/** The recorded view the path names (400 for a malformed name, 404 for one no manifest declared). */
async function pathView(db: D1Database, name: string) {
  if (!VIEW_NAME.test(name)) throw new InvalidInput(`invalid feature view name "${name.slice(0, 80)}": use [a-z0-9][a-z0-9_-]{0,63}`);
  return viewNamed(db, name);
}

featureRoutes.put("/admin/features/:view", async (c) => {
  const { config, mesh } = c.get("isolate");
  const view = await pathView(c.env.DB, c.req.param("view"));
  const schema = z.object({ rows: z.array(z.unknown()).min(1).max(config.featureBatchRows) }).strict();
  const parsed = schema.safeParse(await readJson(c.req.raw, config.maxBodyBytes));
  if (!parsed.success) throw new InvalidInput(`invalid feature batch: ${describeZodError(parsed.error)} (send {"rows": [{"entity_id", "values", "event_time"}, ...]}, at most ${config.featureBatchRows} rows)`);
  const writer = { colo: c.get("pop"), cf: () => c.req.raw.cf as CfLocation | undefined };
  return c.json(await writeRows(c.env, mesh, writer, view, parsed.data.rows));
});

featureRoutes.post("/admin/features", async (c) => {
  const body = await readJson(c.req.raw, c.get("isolate").config.maxBodyBytes);
  const parsed = FeatureViewSchema.safeParse(body);
  if (!parsed.success) throw new InvalidInput(`invalid feature view: ${describeZodError(parsed.error)}`);
  const problems = viewProblems(parsed.data);
  if (problems.length > 0) throw new InvalidInput(problems.join("; "));
  const created = await declareView(c.env.DB, parsed.data, null);
  return c.json({ view: parsed.data.name, created }, created ? 201 : 200);
});

featureRoutes.get("/admin/features/:view", async (c) => c.json(await pathView(c.env.DB, c.req.param("view"))));

featureRoutes.get("/admin/features/:view/log", async (c) => {
  const view = await pathView(c.env.DB, c.req.param("view"));
  return c.json({ view: view.name, ...(await listLog(c.env.ARTIFACTS, view.name, c.req.query("cursor") || undefined)) });
});

featureRoutes.get("/admin/features/:view/log/:id", async (c) => {
  const view = await pathView(c.env.DB, c.req.param("view"));
  const id = c.req.param("id");
  if (!LOG_ID.test(id)) throw new InvalidInput(`invalid log object id "${id.slice(0, 80)}": ids are listed by GET /admin/features/${view.name}/log`);
  const object = await readLog(c.env.ARTIFACTS, view.name, id);
  if (!object) throw new LogObjectNotFound(`view "${view.name}" has no log object "${id}"`);
  return new Response(object.body, { headers: { "content-type": "application/x-ndjson; charset=utf-8", "content-length": String(object.size) } });
});
