// Response cache: identical requests to one model version answered without running it. First the
// isolate's own LRU (bounded by bytes), then the PoP's shared cache (Workers Cache API). Keys hold
// the version's sha256 and a hash of the decoded inputs and requested outputs, so JSON and binary
// encodings of the same tensors share an entry and no other version can ever read it.
import { HEADER_LENGTH, decodeResponse, encodeResult } from "../../shared/binary";
import type { OutputTensor } from "../../shared/oip";
import type { ort } from "./ort";

export type CacheOutcome = "hit-isolate" | "hit-pop" | "miss" | "bypass";

interface Entry {
  outputs: OutputTensor[];
  bytes: number;
}

const encoder = new TextEncoder();

export class ResponseCache {
  private readonly entries = new Map<string, Entry>(); // Map order = least recently used first
  private used = 0;

  constructor(
    private readonly budgetBytes: number,
    /** The PoP-wide cache (caches.default), or null where there is none. */
    private readonly pop: Cache | null,
  ) {}

  async get(key: string): Promise<{ outputs: OutputTensor[]; outcome: "hit-isolate" | "hit-pop" } | null> {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { outputs: entry.outputs, outcome: "hit-isolate" };
    }
    const res = await this.pop?.match(popUrl(key)).catch(() => undefined);
    if (!res) return null;
    const length = res.headers.get(HEADER_LENGTH);
    const outputs = decodeResponse(new Uint8Array(await res.arrayBuffer()), length === null ? null : Number(length)).outputs;
    this.remember(key, outputs, sizeOf(outputs));
    return { outputs, outcome: "hit-pop" };
  }

  /** Keeps an answer in the isolate at once and in the PoP's cache in the background. */
  put(key: string, outputs: OutputTensor[], opts: { ttlSeconds: number; maxEntryBytes: number; waitUntil(p: Promise<unknown>): void }): void {
    const bytes = sizeOf(outputs);
    if (bytes > opts.maxEntryBytes) return;
    this.remember(key, outputs, bytes);
    if (!this.pop) return;
    const { body, headerLength } = encodeResult({ model_name: "", model_version: "", outputs }, () => true);
    const res = new Response(body, { headers: { [HEADER_LENGTH]: String(headerLength), "cache-control": `max-age=${opts.ttlSeconds}` } });
    opts.waitUntil(this.pop.put(popUrl(key), res).catch(() => undefined));
  }

  stats(): { entries: number; bytes: number; budgetBytes: number } {
    return { entries: this.entries.size, bytes: this.used, budgetBytes: this.budgetBytes };
  }

  private remember(key: string, outputs: OutputTensor[], bytes: number): void {
    if (bytes > this.budgetBytes) return;
    const old = this.entries.get(key);
    if (old) this.used -= old.bytes;
    this.entries.delete(key);
    this.entries.set(key, { outputs, bytes });
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.budgetBytes) break;
      this.entries.delete(k);
      this.used -= e.bytes;
    }
  }
}

/** A cache key: the version's sha256 and a SHA-256 of the inputs (name, type, dims, data) and output names. */
export async function cacheKey(sha256: string, feeds: Record<string, ort.Tensor>, outputs: readonly string[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const name of Object.keys(feeds).sort()) {
    const t = feeds[name]!;
    parts.push(encoder.encode(`${name}\u0000${t.type}\u0000${t.dims.join(",")}\u0000`));
    if (t.type === "string") {
      for (const s of t.data as string[]) {
        const b = encoder.encode(s);
        parts.push(new Uint8Array(new Uint32Array([b.byteLength]).buffer), b);
      }
    } else {
      const d = t.data as Exclude<ort.Tensor["data"], string[]>;
      parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  parts.push(encoder.encode(`\u0001${[...outputs].sort().join("\u0000")}`));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return `${sha256}/${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const popUrl = (key: string) => `https://response-cache.meridian.internal/${key}`;

function sizeOf(outputs: OutputTensor[]): number {
  let n = 0;
  for (const o of outputs) n += Array.isArray(o.values) ? o.values.reduce((a, s) => a + 4 + s.length * 3, 0) : (o.values as Uint8Array).byteLength;
  return n;
}
