// Manager: resolves which version a request gets (pinned, or the one the source announces)
// and hands out leases on loaded sessions.
import type { Manifest } from "../../shared/manifest";
import { notFound } from "../http/errors";
import type { Lease, SessionCache } from "../runtime/sessions";
import { loadOnnx, sessionKey } from "./loader";
import type { Registry } from "./registry";
import type { PointerSource } from "./source";

export class ModelManager {
  constructor(
    private readonly registry: Registry,
    private readonly source: PointerSource,
    private readonly sessions: SessionCache,
    private readonly bucket: R2Bucket,
  ) {}

  /** The manifest of a pinned version, or of the version being served. */
  async resolve(name: string, version?: string): Promise<Manifest> {
    if (version !== undefined) {
      if (!/^[1-9]\d{0,8}$/.test(version)) throw notFound(`model "${name}" has no version "${version}"`);
      return this.registry.manifest(name, Number(version));
    }
    const pointer = await this.source.serving(name);
    if (!pointer) throw notFound(`unknown model "${name}"`);
    return this.registry.manifest(name, pointer.version);
  }

  acquire(manifest: Manifest): Promise<Lease> {
    return this.sessions.acquire(sessionKey(manifest), () => loadOnnx(this.bucket, manifest));
  }

  isLoaded(manifest: Manifest): boolean {
    return this.sessions.has(sessionKey(manifest));
  }

  versions(name: string): Promise<number[]> {
    return this.registry.versions(name);
  }

  models(): Promise<string[]> {
    return this.registry.listModels();
  }
}
