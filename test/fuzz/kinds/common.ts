// What every mutation kind builds on: the case draft, the generation context and request helpers.
import { bodyOf, type Json } from "../json";
import type { Rng } from "../prng";
import { predictable, validOip, type ModelInfo, type OipRequest } from "../valid";

/**
 * How the body goes on the wire: with its content-length, or chunked (no length: the server must
 * count while streaming). No lying lengths or half-sent bodies: under `wrangler dev` its proxy
 * answers those itself (503 "worker restarted mid-request"), and its body-draining middleware
 * holds the response to a refused-by-length request until the whole declared body has arrived.
 */
export type Framing = "length" | "chunked";

export interface Draft {
  /** What exactly was done, e.g. "shape: negative dimension". */
  variant: string;
  method: string;
  /** Already percent-encoded: sent as is. */
  path: string;
  headers: Record<string, string>;
  body: Uint8Array | null;
  framing: Framing;
}

export interface GenContext {
  models: readonly ModelInfo[];
  /** The running server's admin token (admin cases are sent with and without it). */
  adminToken: string;
  /** The server's MAX_BODY_BYTES. */
  maxBodyBytes: number;
}

export interface Kind {
  name: string;
  make(rng: Rng, ctx: GenContext): Draft;
}

export const JSON_HEADERS: Readonly<Record<string, string>> = { "content-type": "application/json" };

export function draft(variant: string, method: string, path: string, body: Uint8Array | null = null, extra: Partial<Draft> = {}): Draft {
  return { variant, method, path, headers: { ...(body ? JSON_HEADERS : {}), ...extra.headers }, body, framing: extra.framing ?? "length" };
}

export const pickModel = (rng: Rng, ctx: GenContext): ModelInfo => rng.pick(ctx.models);
export const pickPredictable = (rng: Rng, ctx: GenContext): ModelInfo => rng.pick(predictable(ctx.models));
export const pickByName = (ctx: GenContext, name: string): ModelInfo => {
  const m = ctx.models.find((x) => x.name === name);
  if (!m) throw new Error(`no sample model "${name}"`);
  return m;
};

/** The serving-version or the pinned-version infer route, at random. */
export function inferPath(rng: Rng, model: ModelInfo): string {
  return rng.chance(0.25) ? `/v2/models/${model.name}/versions/${model.version}/infer` : `/v2/models/${model.name}/infer`;
}

/** A POST infer of `body` to `model`. */
export function inferDraft(rng: Rng, model: ModelInfo, variant: string, body: Json | Uint8Array): Draft {
  return draft(`${variant} [${model.name}]`, "POST", inferPath(rng, model), body instanceof Uint8Array ? body : bodyOf(body));
}

/** A valid request for a random model, handed to `mutate` to break; the result goes to infer. */
export function mutatedOip(rng: Rng, ctx: GenContext, mutate: (req: OipRequest, model: ModelInfo) => string, model = pickModel(rng, ctx)): Draft {
  const req = validOip(rng, model);
  const variant = mutate(req, model);
  return inferDraft(rng, model, variant, req);
}

/** One input of the request, at random. */
export const someInput = (rng: Rng, req: OipRequest) => rng.pick(req.inputs);

/** Picks one of the labelled variants and returns its label. */
export function oneOf<A extends unknown[]>(rng: Rng, variants: ReadonlyArray<readonly [string, (...args: A) => void]>, ...args: A): string {
  const [label, apply] = rng.pick(variants);
  apply(...args);
  return label;
}
