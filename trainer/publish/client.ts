// HTTP client for the edge's /admin API (the same code talks to `wrangler dev` and a deployment).
// Responses are checked with zod so a contract drift shows up as a clear error, not an undefined.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { z } from "zod";
import type { Manifest } from "../../shared/manifest";

export const DEFAULT_URL = "http://127.0.0.1:8787";

const version = z.number().int().positive();
const CanarySchema = z.looseObject({ version, percent: z.number() });
const PointerSchema = z.looseObject({ name: z.string(), serving: version.nullable(), canary: CanarySchema.nullable(), seq: z.number() });
export type Pointer = z.infer<typeof PointerSchema>;

const ArtifactSchema = z.looseObject({ sha256: z.string(), size: z.number(), created: z.boolean() });
const ModelsSchema = z.looseObject({
  models: z.array(z.looseObject({ name: z.string(), serving: version.nullable(), canary: CanarySchema.nullable(), latest: version.nullable() })),
});
export type ModelSummary = z.infer<typeof ModelsSchema>["models"][number];
const ModelSchema = z.looseObject({
  name: z.string(),
  serving: version.nullable(),
  canary: CanarySchema.nullable(),
  seq: z.number(),
  nextVersion: version,
  versions: z.array(
    z.looseObject({ version, state: z.string(), sha256: z.string(), size: z.number(), createdAt: z.string(), pushedBy: z.string().nullish(), quantization: z.string() }),
  ),
});
export type ModelDetail = z.infer<typeof ModelSchema>;
const CreatedSchema = z.looseObject({ name: z.string(), version, state: z.string() });
const HistorySchema = z.looseObject({
  events: z.array(
    z.looseObject({ at: z.string(), action: z.string(), from: version.nullish(), to: version.nullish(), percent: z.number().nullish(), actor: z.string().nullish() }),
  ),
});
export type HistoryEvent = z.infer<typeof HistorySchema>["events"][number];
const StatusSchema = z.looseObject({
  serving: version.nullable(),
  canary: CanarySchema.nullable(),
  seq: z.number(),
  pops: z.array(
    // A PoP's canary may be reported as the pointer's {version, percent} or as a bare version.
    z.looseObject({
      colo: z.string(),
      version: version.nullable(),
      canary: z.union([CanarySchema, version]).nullish(),
      seq: z.number().nullish(),
      at: z.string().nullish(),
      error: z.string().nullish(),
    }),
  ),
});
export type Status = z.infer<typeof StatusSchema>;

/** A non-2xx answer: `message` is the edge's `error` text, `body` the whole JSON (e.g. nextVersion). */
export class AdminError extends Error {
  override name = "AdminError";
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  token: string;
  fetch?: typeof fetch;
}

export class AdminClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** Streams the file from disk; `onProgress` gets byte counts as chunks are read. */
  async uploadArtifact(file: string, sha256: string, size: number, onProgress?: (bytes: number) => void) {
    async function* chunks() {
      for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
        onProgress?.((chunk as Buffer).byteLength);
        yield chunk as Buffer;
      }
    }
    // duplex "half" is what Node's fetch requires for a streamed body (not yet in the DOM types).
    const init = {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body: Readable.toWeb(Readable.from(chunks())) as ReadableStream<Uint8Array>,
      duplex: "half",
    } as RequestInit;
    return this.send(`/admin/artifacts/${sha256}`, init, ArtifactSchema);
  }

  models() {
    return this.send("/admin/models", { method: "GET" }, ModelsSchema);
  }

  /** null for an unknown model (404): a first push starts at version 1. */
  async model(name: string): Promise<ModelDetail | null> {
    try {
      return await this.send(`/admin/models/${enc(name)}`, { method: "GET" }, ModelSchema);
    } catch (err) {
      if (err instanceof AdminError && err.status === 404) return null;
      throw err;
    }
  }

  createVersion(name: string, manifest: Manifest, signature: string) {
    return this.post(`/admin/models/${enc(name)}/versions`, { manifest, signature }, CreatedSchema);
  }

  promote(name: string, v: number, expected: number | null) {
    return this.post(`/admin/models/${enc(name)}/promote`, { version: v, expected }, PointerSchema);
  }

  rollback(name: string, expected: number | null) {
    return this.post(`/admin/models/${enc(name)}/rollback`, { expected }, PointerSchema);
  }

  canary(name: string, v: number, percent: number, expected: number | null) {
    return this.post(`/admin/models/${enc(name)}/canary`, { version: v, percent, expected }, PointerSchema);
  }

  history(name: string) {
    return this.send(`/admin/models/${enc(name)}/history`, { method: "GET" }, HistorySchema);
  }

  status(name: string) {
    return this.send(`/admin/models/${enc(name)}/status`, { method: "GET" }, StatusSchema);
  }

  private post<T extends z.ZodType>(path: string, body: unknown, schema: T) {
    return this.send(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }, schema);
  }

  private async send<T extends z.ZodType>(path: string, init: RequestInit, schema: T): Promise<z.infer<T>> {
    const url = `${this.base}${path}`;
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.opts.token}`);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { ...init, headers });
    } catch (err) {
      // fetch hides the useful part (ECONNREFUSED, ENOTFOUND…) in `cause`.
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      throw new Error(`cannot reach ${this.base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const body = json && typeof json === "object" ? (json as Record<string, unknown>) : {};
      const message = typeof body.error === "string" ? body.error : text.trim().slice(0, 200) || res.statusText;
      throw new AdminError(res.status, message, body);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`unexpected answer from ${init.method ?? "GET"} ${path}: ${issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "not JSON"}`);
    }
    return parsed.data;
  }
}

const enc = encodeURIComponent;
