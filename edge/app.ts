// Composes the Worker's routes and middleware; domain errors become HTTP answers here only.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
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
import { packageRoutes } from "./routes/package";
import { predictRoutes } from "./routes/predict";

export const app = new Hono<AppEnv>();

/** Response headers a page may read: the ones that say who answered, and the binary framing. */
const EXPOSED = /^(x-meridian-|ratelimit-)|^(inference-header-content-length|retry-after)$/;

/**
 * CORS for the public API (predictions, metadata, health, packages and artifacts): any origin, no
 * credentials. Not for /admin, /metrics or /dashboard, which browsers must not call cross-origin.
 * Exposed headers are listed per response, from what it carries (the list stays right as headers
 * are added: a prefix such as x-meridian-* is not something CORS can say).
 */
const publicCors = [
  cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
    allowHeaders: ["content-type", "inference-header-content-length", "x-user-id"],
    maxAge: 86_400,
  }),
  createMiddleware<AppEnv>(async (c, next) => {
    await next();
    const exposed = [...c.res.headers.keys()].filter((h) => EXPOSED.test(h));
    if (exposed.length > 0) c.header("access-control-expose-headers", exposed.join(", "));
  }),
] as const;

app.use("*", withIsolate);
app.use("/v2/*", ...publicCors); // "/v2" itself included
app.use("/v1/predict/*", ...publicCors);
// Inside the CORS middleware, so x-meridian-pop is on the response when the exposed list is made.
app.use("*", popHeader);
app.route("/", health);
app.route("/", modelRoutes);
app.route("/", packageRoutes);
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
