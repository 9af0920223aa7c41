// Composes the Worker's routes and middleware.
import { Hono } from "hono";
import type { AppEnv } from "./env";
import { HttpError } from "./http/errors";
import { popHeader } from "./http/pop";
import { services } from "./http/services";
import { adminRoutes } from "./routes/admin";
import { health } from "./routes/health";
import { inferRoutes } from "./routes/infer";
import { modelRoutes } from "./routes/models";
import { predictRoutes } from "./routes/predict";

export const app = new Hono<AppEnv>();

app.use("*", popHeader, services);
app.route("/", health);
app.route("/", modelRoutes);
app.route("/", inferRoutes);
app.route("/", predictRoutes);
app.route("/", adminRoutes);

app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));

app.onError((err, c) => {
  if (err instanceof HttpError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json({ error: err.message }, err.status);
  }
  console.error("unhandled", err);
  return c.json({ error: "internal error" }, 500);
});
