// PUT /admin/features/{view}: a batch of rows {entity_id, values, event_time} of a declared view
// (admin token). Answers per-row: {view, accepted, superseded, rejected: [{index, entity_id,
// error, retryable?}]}; a batch that is not {rows: [...]} at all is a 400.
import { Hono } from "hono";
import { z } from "zod";
import { VIEW_NAME } from "../../shared/features";
import { describeZodError } from "../../shared/oip";
import { InvalidInput } from "../errors";
import type { CfLocation } from "../geo/peers";
import { bearerAuth } from "../http/auth";
import { readJson } from "../http/body";
import type { AppEnv } from "../http/context";
import { viewNamed } from "../features/views";
import { writeRows } from "../features/write";

export const featureRoutes = new Hono<AppEnv>();
featureRoutes.use("/admin/features/*", bearerAuth({ tokens: (c) => [c.get("isolate").config.adminToken], realm: "admin", setting: "ADMIN_TOKEN" }));

featureRoutes.put("/admin/features/:view", async (c) => {
  const name = c.req.param("view");
  if (!VIEW_NAME.test(name)) throw new InvalidInput(`invalid feature view name "${name.slice(0, 80)}": use [a-z0-9][a-z0-9_-]{0,63}`);
  const { config, mesh } = c.get("isolate");
  const view = await viewNamed(c.env.DB, name);
  const schema = z.object({ rows: z.array(z.unknown()).min(1).max(config.featureBatchRows) }).strict();
  const parsed = schema.safeParse(await readJson(c.req.raw, config.maxBodyBytes));
  if (!parsed.success) throw new InvalidInput(`invalid feature batch: ${describeZodError(parsed.error)} (send {"rows": [{"entity_id", "values", "event_time"}, ...]}, at most ${config.featureBatchRows} rows)`);
  const writer = { colo: c.get("pop"), cf: () => c.req.raw.cf as CfLocation | undefined };
  return c.json(await writeRows(c.env, mesh, writer, view, parsed.data.rows));
});
