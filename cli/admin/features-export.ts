// `meridian features export <view> --as-of <time> --out <file>`: the view's values as they stood
// at a time, folded from the edge's offline log (shared/feature-history.ts), written as the file
// `meridian train --feature-values` joins to labelled examples: a header line (the view's
// definition and the time), then one line per entity. Written beside `--out` and renamed into
// place, so a failed export leaves no partial file. Memory: one entry per entity and feature.
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { finished } from "node:stream/promises";
import { exportHeader, foldLog } from "../../shared/feature-history";
import { rfc3339Ms } from "../../shared/feature-rows";
import type { AdminClient } from "./client";

export interface ExportSummary {
  view: string;
  file: string;
  as_of: string;
  entities: number;
  /** Log objects read, and skipped because all their rows are later than as_of. */
  objects: { read: number; skipped: number };
  /** Rows folded, and those left out because they are later than as_of. */
  rows: { read: number; later: number };
}

export async function exportView(client: AdminClient, view: string, asOf: number, file: string, onObject?: () => void): Promise<ExportSummary> {
  const definition = await client.featureView(view);
  const objects = { read: 0, skipped: 0 };
  const fold = await foldLog(client.featureLog(view), asOf, (_o, read) => {
    objects[read ? "read" : "skipped"]++;
    onObject?.();
  });
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  try {
    const write = (line: unknown) => (out.write(JSON.stringify(line) + "\n") ? Promise.resolve() : new Promise<void>((resolve) => out.once("drain", resolve)));
    await write(exportHeader(definition, asOf));
    for (const row of fold.rows()) await write(row);
    out.end();
    await finished(out);
    renameSync(partial, file);
  } catch (err) {
    out.destroy();
    rmSync(partial, { force: true });
    throw err;
  }
  return { view, file, as_of: new Date(asOf).toISOString(), entities: fold.size, objects, rows: { read: fold.counts.rows, later: fold.counts.later } };
}

/** An --as-of value: RFC 3339 with a zone, epoch milliseconds, or "now". */
export function parseTime(value: string, now = Date.now()): number {
  if (value === "now") return now;
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  const ms = rfc3339Ms(value);
  if (ms !== null) return ms;
  throw new Error(`--as-of ${JSON.stringify(value)} is not a time: give an RFC 3339 time with its zone (2026-12-07T05:00:00Z), epoch milliseconds, or now`);
}
