// Bearer-token guard for admin routes. Both sides are hashed first so the comparison takes the
// same time whatever the token's length or content.
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { HttpError } from "./errors";

const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new HttpError(503, "admin routes are disabled: ADMIN_TOKEN is not configured");
  const header = c.req.header("authorization") ?? "";
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match) throw new HttpError(401, "missing bearer token (Authorization: Bearer <token>)", { "www-authenticate": "Bearer" });
  if (!(await constantTimeEqual(match[1]!.trim(), expected))) {
    throw new HttpError(403, "invalid admin token");
  }
  await next();
});
