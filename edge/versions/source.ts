// Source: announces which version of a model should be served, from the KV pointer. Each
// isolate trusts what it read for POINTER_TTL_MS, then reads again; it never moves backwards.
import { SharedWork } from "../shared-work";
import { PointerSchema, pointerKey, type Pointer } from "./pointer";

interface Cached {
  pointer: Pointer | null;
  readAt: number;
}

export class PointerSource {
  private readonly cache = new Map<string, Cached>();
  /** One KV read per model at a time: requests arriving together at expiry share it. */
  private readonly reading = new Map<string, SharedWork<Pointer | null>>();

  constructor(
    private readonly kv: KVNamespace,
    private readonly ttlMs: number,
  ) {}

  serving(model: string): Promise<Pointer | null> {
    const cached = this.cache.get(model);
    if (cached && Date.now() - cached.readAt < this.ttlMs) return Promise.resolve(cached.pointer);
    const reading = this.reading.get(model);
    if (reading) return reading.join();
    const work = this.read(model).finally(() => this.reading.delete(model));
    this.reading.set(model, new SharedWork(work));
    return work;
  }

  /**
   * When each model's pointer was last read (ms since the epoch): how stale this isolate's view
   * can be. Models only: a name a client made up has no pointer and is no label.
   */
  readTimes(): Map<string, number> {
    return new Map([...this.cache].filter(([, c]) => c.pointer !== null).map(([model, c]) => [model, c.readAt]));
  }

  private async read(model: string): Promise<Pointer | null> {
    const now = Date.now();
    const raw = await this.kv.get(pointerKey(model), "json");
    const parsed = PointerSchema.safeParse(raw);
    let pointer = parsed.success ? parsed.data : null;
    // A late replica can show an older pointer: keep the newer one.
    const cached = this.cache.get(model);
    if (cached?.pointer && (!pointer || pointer.seq < cached.pointer.seq)) pointer = cached.pointer;
    this.cache.set(model, { pointer, readAt: now });
    return pointer;
  }
}
