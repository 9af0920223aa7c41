// Typed client for the edge's admin API. Pure (web-standard fetch only), so the CLI, the local
// seed and the workerd tests all publish through the same calls.
import type { Figures, Rollout, RolloutSpec } from "./fleet";
import type { LogSource } from "./feature-history";
import type { WriteReport } from "./feature-rows";
import type { FeatureView } from "./features";
import type { AdminLimits } from "./limits";
import type { Manifest } from "./manifest";
import { signManifest } from "./signing";
import type { PopStatus } from "./status";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface ModelState {
  name: string;
  serving: number | null;
  canary: { version: number; percent: number } | null;
  seq: number;
}

export interface ModelDetail extends ModelState {
  nextVersion: number;
  versions: Array<{ version: number; state: string; sha256: string; size: number; createdAt: string; pushedBy: string | null; quantization: string }>;
}

/** A non-2xx answer from the edge; `body` is its JSON error object. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: string; serving?: number | null; nextVersion?: number },
  ) {
    super(`${status} ${body.error ?? "request failed"}`);
    this.name = "AdminError";
  }
}

/** The edge could not be reached, or stopped answering: no status to show. */
export class AdminUnreachableError extends Error {
  override name = "AdminUnreachableError";
}

export interface AdminClientOptions {
  fetch?: Fetch;
  /** Recorded by the edge as who pushed / promoted. */
  actor?: string;
  /** A call fails when nothing moves (no body chunk sent, no answer) for this long. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

export class AdminClient {
  private readonly fetcher: Fetch;
  private readonly actor: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    opts: AdminClientOptions = {},
  ) {
    this.fetcher = opts.fetch ?? ((input, init) => fetch(input, init));
    this.actor = opts.actor ?? "meridian";
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * One call to the edge. An idempotent call (GET, PUT) whose connection was reset before any
   * answer is sent once more: a kept-alive connection the server closed meanwhile fails that way.
   * This API's PUTs are safe to repeat: artifacts are addressed by their sha256, and feature rows
   * written twice change nothing. A streamed body cannot be sent again.
   */
  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, as: "json" | "text" = "json"): Promise<T> {
    try {
      return await this.once<T>(method, path, body, headers, as);
    } catch (err) {
      const repeatable = (method === "GET" || method === "PUT") && !(body instanceof ReadableStream);
      if (!repeatable || !(err instanceof AdminUnreachableError) || !/ECONNRESET|UND_ERR_SOCKET|socket hang up/.test(err.message)) throw err;
      return this.once<T>(method, path, body, headers, as);
    }
  }

  private async once<T>(method: string, path: string, body: unknown, headers: Record<string, string>, as: "json" | "text"): Promise<T> {
    // An idle timer, re-armed by every body chunk sent: a large upload on a slow link is fine, a
    // stalled one is not.
    const controller = new AbortController();
    const what = `${method} ${path.split("?")[0]}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), this.timeoutMs);
    };
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers: { authorization: `Bearer ${this.token}`, "x-meridian-actor": this.actor, ...headers },
      signal: controller.signal,
    };
    if (body instanceof ReadableStream) {
      init.body = body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, out) => (arm(), out.enqueue(chunk)) }));
      init.duplex = "half";
    } else if (body instanceof Uint8Array) {
      init.body = body as BodyInit;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    arm();
    try {
      const res = await this.fetcher(`${this.baseUrl}${path}`, init);
      arm();
      const text = await res.text();
      if (res.ok && as === "text") return text as T;
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : {};
      } catch {
        json = { error: text.slice(0, 200) };
      }
      if (!res.ok) throw new AdminError(res.status, json as AdminError["body"]);
      return json as T;
    } catch (err) {
      if (err instanceof AdminError) throw err;
      if (controller.signal.aborted) {
        throw new AdminUnreachableError(`no answer from ${this.baseUrl} within ${this.timeoutMs / 1000} s (${what})`);
      }
      // fetch hides the useful part (ECONNREFUSED, ENOTFOUND…) in `cause`.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new AdminUnreachableError(`cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** The stored artifact's size, or null when the edge does not have these bytes. */
  async artifact(sha256: string): Promise<{ size: number } | null> {
    try {
      const head = await this.call<{ size: number }>("GET", `/admin/artifacts/${sha256}`);
      return { size: head.size };
    } catch (err) {
      if (err instanceof AdminError && err.status === 404) return null;
      throw err;
    }
  }

  /** The edge's size limits, or null from an edge too old to say (it still refuses an oversize upload). */
  async limits(): Promise<AdminLimits | null> {
    try {
      return await this.call<AdminLimits>("GET", "/admin/limits");
    } catch (err) {
      if (err instanceof AdminError && err.status === 404) return null;
      throw err;
    }
  }

  uploadArtifact(sha256: string, bytes: Uint8Array | ReadableStream<Uint8Array>, size: number) {
    return this.call<{ sha256: string; size: number; created: boolean }>("PUT", `/admin/artifacts/${sha256}`, bytes, {
      "content-type": "application/octet-stream",
      "content-length": String(size),
    });
  }

  /** nextVersion for a model that does not exist yet is 1. */
  async model(name: string): Promise<ModelDetail | null> {
    try {
      return await this.call<ModelDetail>("GET", `/admin/models/${name}`);
    } catch (err) {
      if (err instanceof AdminError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Registers a version of an uploaded artifact: takes the next version number, signs the
   * manifest with it and retries when a concurrent push took that number first.
   */
  async register(manifest: Omit<Manifest, "version">, privateKey: string): Promise<{ version: number; manifest: Manifest }> {
    let version = (await this.model(manifest.name))?.nextVersion ?? 1;
    for (let attempt = 0; ; attempt++) {
      const signed: Manifest = { ...manifest, version } as Manifest;
      const signature = await signManifest(signed, privateKey);
      try {
        await this.call("POST", `/admin/models/${manifest.name}/versions`, { manifest: signed, signature });
        return { version, manifest: signed };
      } catch (err) {
        if (!(err instanceof AdminError) || err.status !== 409 || attempt >= 2 || !err.body.nextVersion) throw err;
        version = err.body.nextVersion;
      }
    }
  }

  promote(name: string, version: number, expected: number | null) {
    return this.call<ModelState>("POST", `/admin/models/${name}/promote`, { version, expected });
  }

  rollback(name: string, expected: number | null) {
    return this.call<ModelState>("POST", `/admin/models/${name}/rollback`, { expected });
  }

  canary(name: string, version: number, percent: number, expected: number | null) {
    return this.call<ModelState>("POST", `/admin/models/${name}/canary`, { version, percent, expected });
  }

  shadow(name: string, version: number, percent: number, expected: number | null) {
    return this.call<ModelState & { shadow: { version: number; percent: number } | null }>("POST", `/admin/models/${name}/shadow`, { version, percent, expected });
  }

  /** Starts a rollout; fields left out take the edge's defaults. */
  rollout(name: string, spec: Partial<RolloutSpec> & { version: number }) {
    return this.call<Rollout>("POST", `/admin/models/${name}/rollout`, spec);
  }

  rolloutStatus(name: string) {
    return this.call<{ name: string; rollout: Rollout | null }>("GET", `/admin/models/${name}/rollout`);
  }

  abortRollout(name: string) {
    return this.call<Rollout>("POST", `/admin/models/${name}/rollout/abort`, {});
  }

  /** Per version, and per version and PoP, over the last `window` ("5m"). */
  metrics(name: string, window = "5m") {
    return this.call<{ name: string; window: { from: string; to: string; seconds: number }; versions: Figures[]; pops: Figures[] }>(
      "GET",
      `/admin/models/${name}/metrics?window=${encodeURIComponent(window)}`,
    );
  }

  /** Writes rows {entity_id, values, event_time} of a feature view; the answer reports each refused row. */
  putFeatures(view: string, rows: unknown[]) {
    return this.call<WriteReport>("PUT", `/admin/features/${encodeURIComponent(view)}`, { rows });
  }

  /** Defines a view on its own; `created` false when the same definition was there (400: another one is). */
  defineView(view: FeatureView) {
    return this.call<{ view: string; created: boolean }>("POST", "/admin/features", view);
  }

  /** A view's recorded definition (404: none is). */
  featureView(view: string) {
    return this.call<FeatureView>("GET", `/admin/features/${encodeURIComponent(view)}`);
  }

  /** The view's offline log, read a page and an object at a time (shared/feature-history.ts foldLog). */
  featureLog(view: string): LogSource {
    const path = `/admin/features/${encodeURIComponent(view)}/log`;
    return {
      page: (cursor) => this.call("GET", cursor ? `${path}?cursor=${encodeURIComponent(cursor)}` : path),
      read: (id) => this.call("GET", `${path}/${encodeURIComponent(id)}`, undefined, {}, "text"),
    };
  }

  list() {
    return this.call<{ models: Array<{ name: string; serving: number | null; canary: ModelState["canary"]; latest: number | null }> }>("GET", "/admin/models");
  }

  history(name: string) {
    return this.call<{ events: Array<{ at: string; action: string; from: number | null; to: number | null; percent: number | null; seq: number; actor: string; note: string | null }> }>(
      "GET",
      `/admin/models/${name}/history`,
    );
  }

  status(name: string) {
    return this.call<{ serving: number | null; canary: ModelState["canary"]; seq: number; pops: PopStatus[] }>("GET", `/admin/models/${name}/status`);
  }

  /** Upload, register and (optionally) promote: the whole publish flow for bytes in memory. */
  async publish(manifest: Omit<Manifest, "version">, bytes: Uint8Array, privateKey: string, opts: { promote: boolean }): Promise<Manifest> {
    if (!(await this.artifact(manifest.sha256))) await this.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
    const { version, manifest: signed } = await this.register(manifest, privateKey);
    if (opts.promote) {
      const current = await this.model(manifest.name);
      await this.promote(manifest.name, version, current?.serving ?? null);
    }
    return signed;
  }
}
