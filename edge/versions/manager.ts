// Manager (after TensorFlow Serving's AspiredVersionsManager): the source announces the
// pointer a model should be served at; the manager loads and verifies those versions beside
// the ones it serves, and swaps only when they are ready. The request that discovers a new
// pointer waits a little for it (newVersionWaitMs), so a promote is seen at once when the load is
// quick; a slower load goes on in the background while the current versions answer. A failed load
// leaves the current versions in place and is reported; an isolate that serves nothing yet falls
// back as the policy says and keeps retrying. Requests hold leases, so in-flight ones finish on
// the version they started with.
import { MODEL_NAME, type Manifest } from "../../shared/manifest";
import { ModelNotFound, ModelUnavailable } from "../errors";
import { SharedWork } from "../shared-work";
import type { CacheEvents, Lease, SessionCache } from "../runtime/sessions";
import { VersionRejected, sessionKey, verifyAndLoad } from "./loader";
import type { Pointer } from "./pointer";
import { canaryShare, fallbackOrder, takesCanary, type Variant } from "./policy";
import type { Registry, SignedManifest } from "./registry";
import type { PointerSource } from "./source";

export type { Variant };

export interface Served {
  seq: number;
  stable: SignedManifest;
  canary: { signed: SignedManifest; percent: number; where?: Record<string, number> } | null;
  shadow?: { signed: SignedManifest; percent: number } | null;
  /** Set while `stable` stands in for this announced version, which failed to load here. */
  fallbackFor?: number;
}

export interface LoadFailure {
  seq: number;
  version: number;
  error: string;
  at: string;
}

/** Where a request runs: the caller's PoP and the hook that keeps background work alive. */
export interface RequestContext {
  colo: string;
  callerKey: string;
  /**
   * Whether a fresh isolate that cannot load the announced version may serve an older one. Only
   * when no peer could serve the announced one: this PoP has none, or the request was forwarded.
   */
  mayFallBack: boolean;
  waitUntil(promise: Promise<unknown>): void;
}

export interface PopReporter {
  (model: string, report: { colo: string; served: Served | undefined; failure: LoadFailure | null }): Promise<void>;
}

/** A failed pointer is retried after this long, not on every request. */
const RETRY_MS = 5_000;

export interface ManagerParts {
  registry: Registry;
  source: PointerSource;
  sessions: SessionCache;
  bucket: R2Bucket;
  /** SIGNING_PUBLIC_KEYS. */
  keys: string[];
  report: PopReporter;
  newVersionWaitMs: number;
  /** Told of every load this isolate makes: how long it took and whether it worked. */
  onLoad?: (manifest: Manifest, ms: number, ok: boolean) => void;
  /** Told of every session cache hit, load and eviction. */
  onCache?: CacheEvents;
  /** Told when this isolate starts serving an announced pointer. */
  onServe?: (name: string, pointer: Pointer) => void;
}

export class ModelManager {
  private readonly served = new Map<string, Served>();
  private readonly aspiring = new Map<string, { seq: number; shared: SharedWork<void> }>();
  private readonly failures = new Map<string, LoadFailure & { failedAt: number }>();

  constructor(private readonly parts: ManagerParts) {}

  /**
   * The manifest a request gets: a pinned version, else the served one (canary split by caller
   * and place); with `shadow`, the version to run beside it on this request (sampled at random).
   */
  async route(name: string, version: string | undefined, ctx: RequestContext): Promise<{ manifest: Manifest; variant: Variant; shadow?: Manifest }> {
    // No model can have another name; such a name must not reach KV (its keys stop at 512 bytes).
    if (!MODEL_NAME.test(name)) throw new ModelNotFound(`unknown model "${name.slice(0, 64)}${name.length > 64 ? "…" : ""}" (model names match ${MODEL_NAME.source})`);
    if (version !== undefined) return { manifest: (await this.pinned(name, version)).manifest, variant: "pinned" };
    const served = await this.current(name, ctx);
    if (served.canary && takesCanary(name, ctx.callerKey, canaryShare(served.canary, ctx.colo))) {
      return { manifest: served.canary.signed.manifest, variant: "canary" };
    }
    const routed = { manifest: served.stable.manifest, variant: served.fallbackFor === undefined ? ("stable" as const) : ("fallback" as const) };
    const shadow = served.shadow;
    return shadow && Math.random() * 100 < shadow.percent ? { ...routed, shadow: shadow.signed.manifest } : routed;
  }

  async pinned(name: string, version: string): Promise<SignedManifest> {
    if (!/^[1-9]\d{0,8}$/.test(version)) throw new ModelNotFound(`model "${name}" has no version "${version}"`);
    return this.parts.registry.version(name, Number(version));
  }

  /** A lease on the version's session, loading (and verifying) it first if this isolate has not. */
  acquire(manifest: Manifest): Promise<Lease> {
    const { sessions, registry, bucket, keys } = this.parts;
    return sessions.acquire(sessionKey(manifest), async () => {
      const t0 = performance.now();
      try {
        const loaded = await verifyAndLoad(bucket, await registry.version(manifest.name, manifest.version), keys);
        this.parts.onLoad?.(manifest, performance.now() - t0, true);
        return loaded;
      } catch (err) {
        this.parts.onLoad?.(manifest, performance.now() - t0, false);
        if (err instanceof VersionRejected) {
          throw new ModelUnavailable(`model "${manifest.name}" version ${manifest.version} cannot be served: ${err.message}`, { model: manifest.name, version: manifest.version });
        }
        throw err;
      }
    }, this.parts.onCache);
  }

  versions(name: string): Promise<number[]> {
    return this.parts.registry.versions(name);
  }

  status(): Record<
    string,
    { seq: number | null; serving: number | null; canary: { version: number; percent: number } | null; fallbackFor: number | null; failure: LoadFailure | null }
  > {
    const out: ReturnType<ModelManager["status"]> = {};
    for (const name of new Set([...this.served.keys(), ...this.failures.keys()])) {
      const s = this.served.get(name);
      const f = this.failures.get(name);
      out[name] = {
        seq: s?.seq ?? null,
        serving: s?.stable.manifest.version ?? null,
        canary: s?.canary ? { version: s.canary.signed.manifest.version, percent: s.canary.percent } : null,
        fallbackFor: s?.fallbackFor ?? null,
        failure: f ? { seq: f.seq, version: f.version, error: f.error, at: f.at } : null,
      };
    }
    return out;
  }

  /** What this isolate serves for `name`, moving to a newer announced pointer when it can. */
  private async current(name: string, ctx: RequestContext): Promise<Served> {
    const pointer = await this.parts.source.serving(name);
    const served = this.served.get(name);
    if (!pointer) {
      if (served) return served;
      throw new ModelNotFound(`unknown model "${name}"`);
    }
    if (served && pointer.seq <= served.seq) return served;
    const failed = this.failures.get(name);
    const backingOff = failed?.seq === pointer.seq && Date.now() - failed.failedAt < RETRY_MS;
    if (served) {
      if (backingOff) return served;
      const loading = this.aspire(name, pointer, ctx).then(
        () => true,
        () => false,
      );
      ctx.waitUntil(loading);
      // Answer from the new version when it is ready within the wait, else from the current one.
      const wait = this.parts.newVersionWaitMs;
      const ready = wait > 0 && (await within(loading, wait));
      return ready ? (this.served.get(name) ?? served) : served;
    }
    // Nothing served yet: this request waits for the first load.
    try {
      await this.aspire(name, pointer, ctx);
    } catch (err) {
      if (!ctx.mayFallBack) throw err; // a peer may serve the announced version: failover first
      // A broken canary must not take the stable version down with it; else the version before.
      for (const version of fallbackOrder(pointer)) {
        const fallback = await this.fallBack(name, pointer, version, ctx).catch(() => undefined);
        if (fallback) return fallback;
      }
      throw err;
    }
    return this.served.get(name)!;
  }

  /**
   * Serves `version` alone while the announced pointer cannot be loaded. Its seq is just below
   * the pointer's, so the pointer is tried again (after RETRY_MS) and swapped in once it loads.
   */
  private async fallBack(name: string, pointer: Pointer, version: number, ctx: RequestContext): Promise<Served> {
    const already = this.served.get(name);
    if (already) return already; // another request got there first (a fallback, or the real thing)
    const stable = await this.parts.registry.version(name, version);
    (await this.acquire(stable.manifest)).release();
    const now = this.served.get(name);
    if (now) {
      const inUse = [now.stable, now.canary?.signed, now.shadow?.signed].some((v) => v?.manifest.version === version);
      if (!inUse) this.parts.sessions.evict(sessionKey(stable.manifest), this.parts.onCache);
      return now;
    }
    const served: Served = { seq: pointer.seq - 1, stable, canary: null };
    if (version !== pointer.version) served.fallbackFor = pointer.version;
    this.served.set(name, served);
    ctx.waitUntil(this.parts.report(name, { colo: ctx.colo, served, failure: this.failures.get(name) ?? null }).catch(() => undefined));
    return served;
  }

  /** Loads and verifies the pointer's versions, then swaps; one attempt per pointer at a time. */
  private aspire(name: string, pointer: Pointer, ctx: RequestContext): Promise<void> {
    const running = this.aspiring.get(name);
    if (running && running.seq >= pointer.seq) return running.shared.join();
    const done: Promise<void> = this.load(name, pointer, ctx).finally(() => {
      if (this.aspiring.get(name)?.shared === shared) this.aspiring.delete(name);
    });
    const shared = new SharedWork(done);
    this.aspiring.set(name, { seq: pointer.seq, shared });
    return done;
  }

  private async load(name: string, pointer: Pointer, ctx: RequestContext): Promise<void> {
    let version = pointer.version; // the one being loaded: what a failure names
    try {
      const { registry } = this.parts;
      const stable = await registry.version(name, pointer.version);
      const canary = pointer.canary ? { ...pointer.canary, signed: await registry.version(name, pointer.canary.version) } : null;
      const shadow = pointer.shadow ? { percent: pointer.shadow.percent, signed: await registry.version(name, pointer.shadow.version) } : null;
      for (const signed of [stable, canary?.signed, shadow?.signed]) {
        if (!signed) continue;
        version = signed.manifest.version;
        (await this.acquire(signed.manifest)).release();
      }
      const before = this.served.get(name);
      if (before && before.seq >= pointer.seq) return; // a newer pointer won meanwhile: never go back
      const next: Served = { seq: pointer.seq, stable, canary, shadow };
      this.served.set(name, next);
      this.failures.delete(name);
      this.retire(before, next);
      this.parts.onServe?.(name, pointer);
      ctx.waitUntil(this.parts.report(name, { colo: ctx.colo, served: next, failure: null }).catch(() => undefined));
    } catch (err) {
      const failure = {
        seq: pointer.seq,
        version,
        error: err instanceof Error ? err.message : String(err),
        at: new Date().toISOString(),
        failedAt: Date.now(),
      };
      this.failures.set(name, failure);
      ctx.waitUntil(this.parts.report(name, { colo: ctx.colo, served: this.served.get(name), failure }).catch(() => undefined));
      throw err;
    }
  }

  /** Frees sessions the new pointer no longer uses (in-flight leases keep them alive until done). */
  private retire(before: Served | undefined, next: Served): void {
    if (!before) return;
    const keep = new Set([next.stable, next.canary?.signed, next.shadow?.signed].filter((s) => s !== undefined).map((s) => sessionKey(s.manifest)));
    for (const s of [before.stable, before.canary?.signed, before.shadow?.signed]) {
      if (s && !keep.has(sessionKey(s.manifest))) this.parts.sessions.evict(sessionKey(s.manifest), this.parts.onCache);
    }
  }
}

/** The promise's answer if it comes within `ms`, else false. */
async function within(promise: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
