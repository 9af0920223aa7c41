// Where shard sets live. Readers need only a ShardSource (whole objects and byte ranges), so a
// read-only HTTP server or CDN serves a set; writers need a ShardStore.
import { KEY } from "../format";

export class StoreError extends Error {
  override name = "StoreError";

  /** True when the object does not exist (as opposed to an unreachable or refusing store). */
  constructor(
    message: string,
    readonly notFound = false,
  ) {
    super(message);
  }
}

export interface ShardSource {
  /** Where the set is (a path or URL), for messages. */
  readonly location: string;
  /**
   * The whole object at `key` (relative to the set's root). `reuse`: memory the caller no longer
   * needs; a store may read into it when it is exactly the object's size (the directory store
   * does), so reading shard after shard allocates nothing new. Others ignore it.
   */
  get(key: string, reuse?: ArrayBuffer): Promise<Uint8Array>;
  /** Exactly `length` bytes of `key` from `offset`; a short answer is an error. */
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  /** Releases connections (a no-op where there are none). */
  close(): void;
}

export interface ShardStore extends ShardSource {
  /** Checks that the set can be written (creating its directory if needed), before any work. */
  prepare(): Promise<void>;
  /** Writes `key` whole; a reader never sees a partly written object. */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Every key under the set's root, sorted. */
  list(): Promise<string[]>;
  /** Removes `keys` (what a write that failed had put) and what prepare() created for them. */
  discard(keys: string[]): Promise<void>;
}

/** Keys come from manifests, which may come from anywhere: never let one climb out of the root. */
export function checkKey(key: string): string {
  if (!KEY.test(key)) throw new StoreError(`bad shard key ${JSON.stringify(key)}`);
  return key;
}

export function checkRange(offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 1)) {
    throw new StoreError(`bad byte range: offset ${offset}, length ${length}`);
  }
}

/** The one-line reason of a Node/system error: its code when it has one. */
export function why(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && (typeof cause.code === "string" || typeof cause.message === "string")) return String(cause.code ?? cause.message);
  if (typeof e.code === "string" && typeof e.message === "string") return e.message;
  return err instanceof Error ? err.message : String(err);
}
