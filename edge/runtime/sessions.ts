// Isolate-wide cache of inference sessions: one per (model, version, sha256), shared by all
// requests, bounded by an LRU on artifact bytes (an isolate has 128 MB). Concurrent first
// requests share one load; an evicted session is released only after its last lease ends, so
// in-flight requests finish on the session they started with.
import type { Featurizer } from "../../shared/featurize";
import { SharedWork } from "../shared-work";
import type { Batcher } from "./batcher";
import type { Backend } from "./ort";
import type { Run } from "./ort-direct";

export interface LoadedSession {
  key: string;
  /** The session's run, direct to onnxruntime's C API when the session allows it (ort-direct.ts). */
  run: Run;
  /** Frees the session (and what its direct runs keep). */
  release(): Promise<void>;
  /** A text model's featurizer (manifest.preprocessing), built once per load. */
  featurizer: Featurizer | null;
  /** Merges concurrent requests into one run, for versions whose manifest asks for batching. */
  batcher: Batcher | null;
  /** The warm-up it ran before it could serve. */
  warmup: { requests: number; ms: number };
  bytes: number;
  backend: Backend;
  loadMs: number;
}

export interface Lease {
  readonly loaded: LoadedSession;
  release(): void;
}

/** What happened to the cache on one acquire (or evict): a metric per event. */
export type CacheEvent = "hit" | "load" | "eviction";
export type CacheEvents = (event: CacheEvent, key: string) => void;

interface Entry {
  loaded: LoadedSession;
  leases: number;
  evicted: boolean;
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>(); // Map order = least recently used first
  private readonly loading = new Map<string, SharedWork<Entry>>();
  private used = 0;
  loads = 0;

  constructor(private readonly budgetBytes: number) {}

  async acquire(key: string, load: () => Promise<LoadedSession>, events: CacheEvents = () => {}): Promise<Lease> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key); // re-insert: most recently used
      this.entries.set(key, entry);
      events("hit", key);
    } else {
      entry = await this.loadOnce(key, load, events);
      // Another load may have pushed it out while this request waited.
      if (entry.evicted) return this.acquire(key, load, events);
    }
    return this.lease(entry);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  stats(): { sessions: number; bytes: number; budgetBytes: number; loads: number; keys: string[] } {
    return {
      sessions: this.entries.size,
      bytes: this.used,
      budgetBytes: this.budgetBytes,
      loads: this.loads,
      keys: [...this.entries.keys()],
    };
  }

  /** Drops a session now (its memory is freed once in-flight requests end). */
  evict(key: string, events: CacheEvents = () => {}): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.used -= entry.loaded.bytes;
    entry.evicted = true;
    events("eviction", key);
    if (entry.leases === 0) void entry.loaded.release();
  }

  private loadOnce(key: string, load: () => Promise<LoadedSession>, events: CacheEvents): Promise<Entry> {
    const pending = this.loading.get(key);
    if (pending) return pending.join();
    const work = load()
      .then((loaded) => {
        this.loads++;
        const entry: Entry = { loaded, leases: 0, evicted: false };
        this.entries.set(key, entry);
        this.used += loaded.bytes;
        events("load", key);
        this.shrink(key, events);
        return entry;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, new SharedWork(work));
    return work;
  }

  private shrink(keep: string, events: CacheEvents): void {
    for (const key of this.entries.keys()) {
      if (this.used <= this.budgetBytes) return;
      if (key !== keep) this.evict(key, events);
    }
  }

  private lease(entry: Entry): Lease {
    entry.leases++;
    let released = false;
    return {
      loaded: entry.loaded,
      release: () => {
        if (released) return;
        released = true;
        entry.leases--;
        if (entry.evicted && entry.leases === 0) void entry.loaded.release();
      },
    };
  }
}
