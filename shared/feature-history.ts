// A view's history and its state as of a time. The edge appends every row it stored to an
// offline log (edge/features/log.ts); folding the log with `AsOf` gives, per entity and feature,
// the value the online store held at that time: the rows with event_time <= as_of, merged by the
// rule ShardDO.putFeatures applies (later event_time wins; on equal times the larger JSON
// encoding, compared as strings: the encodings are ASCII, so JS order is SQLite's byte order).
// The export file (`meridian features export`) writes that state in the form the trainer joins.
import type { FeatureRow } from "./feature-rows";
import type { Scalar, StoredValue } from "./feature-inputs";
import { FeatureViewSchema, valueError, type FeatureView } from "./features";

/** What the first line of an export file says. */
export interface ExportHeader {
  meridian: "feature-export";
  /** The view's recorded definition (the trainer checks a model's binding against it). */
  view: FeatureView;
  /** The time the values stood at, epoch ms, and as RFC 3339 for people. */
  as_of_ms: number;
  as_of: string;
}

/** One entity's values in an export file (a line after the header). */
export interface ExportRow {
  entity_id: string;
  features: Record<string, StoredValue>;
}

/** One object of a view's offline log (GET /admin/features/{view}/log). */
export interface LogObject {
  id: string;
  rows: number;
  /** Event-time range of its rows (epoch ms): a fold as of an earlier time skips the object. */
  min_event_time: number;
  max_event_time: number;
  bytes: number;
}

/** Where a fold reads the log from (the admin API, through AdminClient). */
export interface LogSource {
  page(cursor?: string): Promise<{ objects: LogObject[]; cursor: string | null }>;
  /** An object's rows: one FeatureRow as JSON a line. */
  read(id: string): Promise<string>;
}

/** Objects read at once. */
const READING = 4;

/** The state as of `asOf` from a whole log; objects whose rows are all later are not read. */
export async function foldLog(source: LogSource, asOf: number, onObject?: (o: LogObject, read: boolean) => void): Promise<AsOf> {
  const fold = new AsOf(asOf);
  let cursor: string | undefined;
  do {
    const page = await source.page(cursor);
    const needed = page.objects.filter((o) => {
      const read = o.min_event_time <= asOf;
      if (!read) onObject?.(o, false);
      return read;
    });
    for (let i = 0; i < needed.length; i += READING) {
      await Promise.all(
        needed.slice(i, i + READING).map(async (o) => {
          const text = await source.read(o.id);
          for (const line of text.split("\n")) if (line !== "") fold.add(JSON.parse(line) as FeatureRow);
          onObject?.(o, true);
        }),
      );
    }
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return fold;
}

type Held = { json: string; eventTime: number };

/** Whether a value (`json` at `eventTime`) replaces the one held: the online store's rule. */
export function supersedes(next: Held, held: Held | undefined): boolean {
  return held === undefined || next.eventTime > held.eventTime || (next.eventTime === held.eventTime && next.json > held.json);
}

/** Folds logged rows, in any order, into the state as of `asOf` (epoch ms). */
export class AsOf {
  private readonly entities = new Map<string, Map<string, Held>>();
  /** Rows read, and rows after as_of left out. */
  readonly counts = { rows: 0, later: 0 };

  constructor(readonly asOf: number) {}

  add(row: FeatureRow): void {
    this.counts.rows++;
    if (row.eventTime > this.asOf) {
      this.counts.later++;
      return;
    }
    let held = this.entities.get(row.entity);
    if (!held) this.entities.set(row.entity, (held = new Map()));
    for (const [feature, value] of Object.entries(row.values)) {
      const next = { json: JSON.stringify(value), eventTime: row.eventTime };
      if (supersedes(next, held.get(feature))) held.set(feature, next);
    }
  }

  get size(): number {
    return this.entities.size;
  }

  /** The state, one row per entity, by entity id (code unit order). */
  *rows(): Generator<ExportRow> {
    for (const entity of [...this.entities.keys()].sort()) {
      const features: Record<string, StoredValue> = {};
      for (const [name, h] of [...this.entities.get(entity)!].sort(([a], [b]) => (a < b ? -1 : 1))) {
        features[name] = { value: JSON.parse(h.json) as Scalar[], eventTime: h.eventTime };
      }
      yield { entity_id: entity, features };
    }
  }
}

export function exportHeader(view: FeatureView, asOf: number): ExportHeader {
  return { meridian: "feature-export", view, as_of_ms: asOf, as_of: new Date(asOf).toISOString() };
}

/** Thrown for an export file that is not one (names the line). */
export class ExportFileError extends Error {
  override name = "ExportFileError";
}

export function parseExportHeader(line: string, where: string): ExportHeader {
  const obj = parseObject(line, where);
  if (obj.meridian !== "feature-export") throw new ExportFileError(`${where}: not a feature export (the first line must be the header \`meridian features export\` writes)`);
  const view = FeatureViewSchema.safeParse(obj.view);
  if (!view.success) throw new ExportFileError(`${where}: the header's view is not a feature view definition`);
  if (!(typeof obj.as_of_ms === "number" && Number.isSafeInteger(obj.as_of_ms))) throw new ExportFileError(`${where}: the header has no as_of_ms`);
  return { meridian: "feature-export", view: view.data, as_of_ms: obj.as_of_ms, as_of: new Date(obj.as_of_ms).toISOString() };
}

/** An entity's line, checked against the view: every value the right type and shape, no time after as_of. */
export function parseExportRow(line: string, header: ExportHeader, where: string): ExportRow {
  const obj = parseObject(line, where);
  const entity = obj.entity_id;
  if (typeof entity !== "string" || entity.length === 0) throw new ExportFileError(`${where}: entity_id must be a non-empty string`);
  const raw = obj.features;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ExportFileError(`${where}: features must be an object {feature: {value, eventTime}}`);
  const features: Record<string, StoredValue> = {};
  for (const [name, stored] of Object.entries(raw as Record<string, unknown>)) {
    const f = header.view.features.find((x) => x.name === name);
    if (!f) throw new ExportFileError(`${where}: view "${header.view.name}" has no feature "${name}"`);
    const { value, eventTime } = (stored ?? {}) as Partial<StoredValue>;
    const error = valueError(f, value);
    if (error || !Array.isArray(value)) throw new ExportFileError(`${where}: feature "${name}": ${error ?? "the value must be an array"}`);
    if (!(typeof eventTime === "number" && Number.isSafeInteger(eventTime) && eventTime <= header.as_of_ms)) {
      throw new ExportFileError(`${where}: feature "${name}": eventTime must be epoch ms no later than the export's as_of`);
    }
    features[name] = { value: value as Scalar[], eventTime };
  }
  return { entity_id: entity, features };
}

function parseObject(line: string, where: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    throw new ExportFileError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new ExportFileError(`${where}: expected a JSON object`);
  return obj as Record<string, unknown>;
}
