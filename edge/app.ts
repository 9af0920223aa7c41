// Composes the Worker's routes and middleware; domain errors become HTTP answers here only.
import { Hono } from "hono";
import { RouteNotFound } from "./errors";
import { withIsolate, type AppEnv } from "./http/context";
import { publicCors } from "./http/cors";
import { errorAnswer } from "./http/errors";
import { popHeader } from "./http/pop";
import { adminRoutes } from "./routes/admin";
import { dashboardRoutes } from "./routes/dashboard";
import { featureRoutes } from "./routes/features";
import { health } from "./routes/health";
import { inferRoutes } from "./routes/infer";
import { metricsRoutes } from "./routes/metrics";
import { modelRoutes } from "./routes/models";
import { packageRoutes } from "./routes/package";
import { predictRoutes } from "./routes/predict";

export const app = new Hono<AppEnv>();

/**
 * Response headers a page may read: the ones that say who answered, and the binary framing.
 * Listed by name (CORS has no prefixes); package.test.ts checks that every x-meridian-* and
 * ratelimit-* header an answer carries is here.
 */
const EXPOSED_HEADERS = [
  "x-meridian-pop",
  "x-meridian-model-version",
  "x-meridian-variant",
  "x-meridian-route",
  "x-meridian-via",
  "x-meridian-reason",
  "x-meridian-backend",
  "x-meridian-cache",
  "x-meridian-batch-rows",
  "x-meridian-shard",
  "x-meridian-requests",
  "ratelimit-limit",
  "ratelimit-remaining",
  "retry-after",
  "inference-header-content-length",
];

/**
 * CORS for the public API (predictions, metadata, health, packages and artifacts): any origin, no
 * credentials. Not for /admin, /metrics or /dashboard, which browsers must not call cross-origin.
 */
const cors = publicCors({
  allowMethods: ["GET", "HEAD", "POST", "OPTIONS"],
  allowHeaders: ["content-type", "inference-header-content-length", "x-user-id"],
  exposeHeaders: EXPOSED_HEADERS,
  maxAgeSeconds: 86_400,
});

app.use("*", withIsolate);
app.use("/v2/*", cors); // "/v2" itself included
app.use("/v1/predict/*", cors);
app.use("*", popHeader);
app.route("/", health);
app.route("/", modelRoutes);
app.route("/", packageRoutes);
app.route("/", inferRoutes);
app.route("/", predictRoutes);
app.route("/", adminRoutes);
app.route("/", featureRoutes);
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
