// Rows written to a feature view ({entity_id, values, event_time}), checked one by one against the
// view: a bad row gets its own error and never stops the others. A row is whole or refused: every
// value it names must be a feature of the view with the right type and shape.
import type { Scalar } from "./feature-inputs";
import { MAX_ENTITY_ID_LENGTH, elements, valueError, type FeatureView } from "./features";

/** One feature value's JSON at most (a Durable Object's SQLite row holds 2 MB). */
export const MAX_VALUE_BYTES = 256 << 10;

/** A row may be dated at most this far ahead of the edge's clock (a far-future time would block every later write). */
export const MAX_FUTURE_MS = 5 * 60_000;

/** A row that passed: values flattened row-major, event time in epoch ms. */
export interface FeatureRow {
  entity: string;
  eventTime: number;
  values: Record<string, Scalar[]>;
}

export type RowCheck = { ok: true; row: FeatureRow } | { ok: false; entity_id: string | null; error: string };

/** Checks row `raw` against the view; `now` is the edge's clock (epoch ms). */
export function checkRow(view: FeatureView, raw: unknown, now: number): RowCheck {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return { ok: false, entity_id: null, error: "a row must be an object {entity_id, values, event_time}" };
  const { entity_id, values, event_time, ...rest } = raw as Record<string, unknown>;
  const entity = typeof entity_id === "string" ? entity_id : null;
  const fail = (error: string): RowCheck => ({ ok: false, entity_id: entity, error });
  const extra = Object.keys(rest);
  if (extra.length > 0) return fail(`unknown field "${extra[0]}": a row has entity_id, values and event_time`);
  if (entity === null || entity.length === 0) return fail("entity_id must be a non-empty string");
  if (entity.length > MAX_ENTITY_ID_LENGTH) return fail(`entity_id is longer than ${MAX_ENTITY_ID_LENGTH} characters`);
  const eventTime = timeOf(event_time);
  if (typeof eventTime === "string") return fail(eventTime);
  if (eventTime > now + MAX_FUTURE_MS) return fail(`event_time ${new Date(eventTime).toISOString()} is more than ${MAX_FUTURE_MS / 60_000} minutes in the future`);
  if (!values || typeof values !== "object" || Array.isArray(values)) return fail("values must be an object {feature: value}");
  const names = Object.keys(values);
  if (names.length === 0) return fail("values is empty");
  const features = new Map(view.features.map((f) => [f.name, f]));
  const out: Record<string, Scalar[]> = {};
  for (const name of names) {
    const f = features.get(name);
    if (!f) return fail(`unknown feature "${name}"; view "${view.name}" has ${[...features.keys()].join(", ")}`);
    const value = (values as Record<string, unknown>)[name];
    const error = valueError(f, value);
    if (error) return fail(`feature "${name}": ${error}`);
    const flat = elements(value) as Scalar[]; // checked: scalars only
    const bytes = JSON.stringify(flat).length;
    if (bytes > MAX_VALUE_BYTES) return fail(`feature "${name}": the value is ${bytes} bytes of JSON, more than the ${MAX_VALUE_BYTES} a feature may hold`);
    out[name] = flat;
  }
  return { ok: true, row: { entity, eventTime, values: out } };
}

/** Epoch ms of an RFC 3339 time with its zone (2026-12-07T05:00:00Z), or null for anything else. */
export function rfc3339Ms(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}

/** Epoch ms from an integer (ms) or an RFC 3339 time with its zone; else the reason it is not one. */
function timeOf(value: unknown): number | string {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 ? value : `event_time ${value} is not a time: give epoch milliseconds (a non-negative integer) or an RFC 3339 string`;
  }
  const ms = typeof value === "string" ? rfc3339Ms(value) : null;
  if (ms !== null) return ms;
  if (value === undefined) return "event_time is missing";
  return `event_time ${JSON.stringify(value)?.slice(0, 64)} is not a time: give epoch milliseconds or an RFC 3339 string with its zone (2026-12-07T05:00:00Z)`;
}

export interface RowRejection {
  index: number;
  entity_id: string | null;
  error: string;
  /** The row was valid but its shard could not be reached: sending it again may succeed. */
  retryable?: true;
}

/** The answer to a batch of rows (PUT /admin/features/{view}). */
export interface WriteReport {
  view: string;
  /** Rows stored (each of their values either stored or superseded by a newer one). */
  accepted: number;
  /** Values of accepted rows not stored because the shard held one with a later event_time. */
  superseded: number;
  rejected: RowRejection[];
}
