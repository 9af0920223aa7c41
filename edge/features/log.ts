// The offline log of a view: each batch of rows the shards stored, as one JSON-lines object in R2
// (features/<view>/log/<arrival ms>-<random>.jsonl, one FeatureRow a line), with the batch's
// event-time range in its metadata. The online store keeps only each feature's latest value; the
// log keeps every one, so `meridian features export --as-of` can fold the state at any time
// (shared/feature-history.ts) and training sees the values serving saw.
import type { LogObject } from "../../shared/feature-history";
import type { FeatureRow } from "../../shared/feature-rows";

export const LOG_ID = /^\d{13}-[0-9a-f]{16}\.jsonl$/;
const LIST_LIMIT = 1000;

const prefixOf = (view: string): string => `features/${view}/log/`;

export async function appendLog(bucket: R2Bucket, view: string, rows: readonly FeatureRow[]): Promise<void> {
  if (rows.length === 0) return;
  const random = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("");
  const times = rows.map((r) => r.eventTime);
  await bucket.put(`${prefixOf(view)}${String(Date.now()).padStart(13, "0")}-${random}.jsonl`, rows.map((r) => JSON.stringify(r)).join("\n") + "\n", {
    httpMetadata: { contentType: "application/x-ndjson" },
    customMetadata: { rows: String(rows.length), minEventTime: String(Math.min(...times)), maxEventTime: String(Math.max(...times)) },
  });
}

/** One page of a view's log objects, oldest first; `cursor` names the next page (null: the last). */
export async function listLog(bucket: R2Bucket, view: string, cursor?: string): Promise<{ objects: LogObject[]; cursor: string | null }> {
  // `include` exists since compatibility date 2022-08-04; the default (oldest) types lack it.
  const options = { prefix: prefixOf(view), limit: LIST_LIMIT, include: ["customMetadata"], ...(cursor ? { cursor } : {}) } as R2ListOptions;
  const page = await bucket.list(options);
  const objects = page.objects.map((o) => ({
    id: o.key.slice(prefixOf(view).length),
    rows: Number(o.customMetadata?.rows ?? 0),
    min_event_time: Number(o.customMetadata?.minEventTime ?? 0),
    max_event_time: Number(o.customMetadata?.maxEventTime ?? 0),
    bytes: o.size,
  }));
  return { objects, cursor: page.truncated ? page.cursor : null };
}

/** A log object's rows (JSON lines), or null when there is no such object. */
export async function readLog(bucket: R2Bucket, view: string, id: string): Promise<R2ObjectBody | null> {
  return bucket.get(prefixOf(view) + id);
}
