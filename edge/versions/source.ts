// Source: announces which version of a model should be served, from the KV pointer. Each
// isolate trusts what it read for POINTER_TTL_MS, then reads again; it never moves backwards.
import { PointerSchema, pointerKey, type Pointer } from "./pointer";

interface Cached {
  pointer: Pointer | null;
  readAt: number;
}

export class PointerSource {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly kv: KVNamespace,
    private readonly ttlMs: number,
  ) {}

  async serving(model: string): Promise<Pointer | null> {
    const now = Date.now();
    const cached = this.cache.get(model);
    if (cached && now - cached.readAt < this.ttlMs) return cached.pointer;
    const raw = await this.kv.get(pointerKey(model), "json");
    const parsed = PointerSchema.safeParse(raw);
    let pointer = parsed.success ? parsed.data : null;
    // A late replica can show an older pointer: keep the newer one.
    if (cached?.pointer && (!pointer || pointer.seq < cached.pointer.seq)) pointer = cached.pointer;
    this.cache.set(model, { pointer, readAt: now });
    return pointer;
  }
}
