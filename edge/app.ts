// Composes the Worker's routes and middleware; domain errors become HTTP answers here only.
import { Hono } from "hono";
import { RouteNotFound } from "./errors";
import { withIsolate, type AppEnv } from "./http/context";
import { errorAnswer } from "./http/errors";
import { popHeader } from "./http/pop";
import { adminRoutes } from "./routes/admin";
import { dashboardRoutes } from "./routes/dashboard";
import { health } from "./routes/health";
import { inferRoutes } from "./routes/infer";
import { metricsRoutes } from "./routes/metrics";
import { modelRoutes } from "./routes/models";
import { predictRoutes } from "./routes/predict";

export const app = new Hono<AppEnv>();

app.use("*", withIsolate, popHeader);
app.route("/", health);
app.route("/", modelRoutes);
app.route("/", inferRoutes);
app.route("/", predictRoutes);
app.route("/", adminRoutes);
app.route("/", metricsRoutes);
app.route("/", dashboardRoutes);

app.notFound((c) => {
  const { status, body } = errorAnswer(new RouteNotFound(`no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  return c.json(body, status);
});

app.onError((err, c) => {
  const { status, headers, body } = errorAnswer(err);
  return c.json(body, status, headers);
});
