// Typed client for the edge's admin API. Pure (web-standard fetch only), so the CLI, the local
// seed and the workerd tests all publish through the same calls.
import type { Manifest } from "./manifest";
import { signManifest } from "./signing";

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

export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly fetcher: Fetch = (input, init) => fetch(input, init),
    private readonly actor = "meridian",
  ) {}

  async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${this.token}`, "x-meridian-actor": this.actor, ...headers },
    };
    if (body !== undefined) {
      init.body = body instanceof Uint8Array || body instanceof ReadableStream ? (body as BodyInit) : JSON.stringify(body);
      if (!(body instanceof Uint8Array) && !(body instanceof ReadableStream)) (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    if (body instanceof ReadableStream) (init as RequestInit & { duplex: string }).duplex = "half";
    const res = await this.fetcher(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { error: text.slice(0, 200) };
    }
    if (!res.ok) throw new AdminError(res.status, json as AdminError["body"]);
    return json as T;
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

  list() {
    return this.call<{ models: Array<{ name: string; serving: number | null; canary: ModelState["canary"]; latest: number | null }> }>("GET", "/admin/models");
  }

  history(name: string) {
    return this.call<{ events: Array<{ at: string; action: string; from: number | null; to: number | null; percent: number | null; seq: number; actor: string }> }>(
      "GET",
      `/admin/models/${name}/history`,
    );
  }

  status(name: string) {
    return this.call<{ serving: number | null; canary: ModelState["canary"]; seq: number; pops: Array<{ colo: string; version: number | null; canary: number | null; seq: number; at: string; error: string | null }> }>(
      "GET",
      `/admin/models/${name}/status`,
    );
  }

  /** Upload, register and (optionally) promote: the whole publish flow for bytes in memory. */
  async publish(manifest: Omit<Manifest, "version">, bytes: Uint8Array, privateKey: string, opts: { promote: boolean }): Promise<Manifest> {
    await this.uploadArtifact(manifest.sha256, bytes, bytes.byteLength);
    const { version, manifest: signed } = await this.register(manifest, privateKey);
    if (opts.promote) {
      const current = await this.model(manifest.name);
      await this.promote(manifest.name, version, current?.serving ?? null);
    }
    return signed;
  }
}
