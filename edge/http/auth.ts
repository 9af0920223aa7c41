// Bearer-token guard, built by a factory that takes where its token comes from (the admin token
// today, a metrics token later). Both sides are hashed first so the comparison takes the same
// time whatever the token's length or content.
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { NotConfigured, PermissionDenied, Unauthenticated } from "../errors";
import type { AppEnv } from "./context";

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

export interface BearerOptions {
  /** The tokens accepted; none configured means the routes are disabled (503 until one is). */
  tokens: (c: Context<AppEnv>) => Array<string | null>;
  /** What the routes are, for errors: "admin". */
  realm: string;
  /** The setting that holds the token: "ADMIN_TOKEN". */
  setting: string;
  /** A cookie that may carry the token instead (a browser page cannot send the header). */
  cookie?: string;
}

export function bearerAuth({ tokens, realm, setting, cookie }: BearerOptions) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const expected = tokens(c).filter((t): t is string => Boolean(t));
    if (expected.length === 0) throw new NotConfigured(`${realm} routes are disabled: ${setting} is not configured`);
    const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
    const given = match?.[1]!.trim() ?? (cookie ? getCookie(c, cookie) : undefined);
    if (!given) throw new Unauthenticated(`missing bearer token (Authorization: Bearer <token>${cookie ? ", or sign in" : ""})`);
    if (!(await accepted(given, expected))) throw new PermissionDenied(`invalid ${realm} token`);
    await next();
  });
}

/** Whether `given` is one of the expected tokens (every one compared, in constant time). */
export async function accepted(given: string, expected: string[]): Promise<boolean> {
  return (await Promise.all(expected.map((t) => constantTimeEqual(given, t)))).includes(true);
}
