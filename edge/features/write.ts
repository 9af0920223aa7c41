// Writes rows of a feature view into their entities' home shards: each row is checked against the
// view (a bad row is reported, the others go on), placed by the caller-state placement (the
// entity's home region, pinned so it never expires, then its ring owner), and the rows of one
// shard go in one call. A row
// whose home or shard cannot be reached is reported as retryable; nothing of it is stored.
// The rows stored go to the view's offline log (log.ts) before they count as accepted: a row the
// log did not take is reported as retryable too (sending it again changes nothing in the shard),
// so the log holds every value the online store ever held.
import { checkRow, type FeatureRow, type WriteReport } from "../../shared/feature-rows";
import type { FeatureView } from "../../shared/features";
import type { Shard } from "../../shared/hashring";
import { callShard, placeKey, type Bindings, type Caller } from "../callers/admit";
import type { Mesh } from "../geo/mesh";
import { appendLog } from "./log";

/** How many home lookups one batch runs at once. */
const PLACING = 32;

export async function writeRows(env: Bindings & { ARTIFACTS: R2Bucket }, mesh: Mesh, writer: Omit<Caller, "key">, view: FeatureView, rows: unknown[]): Promise<WriteReport> {
  const now = Date.now();
  const report: WriteReport = { view: view.name, accepted: 0, superseded: 0, rejected: [] };
  const good: Array<{ index: number; row: FeatureRow }> = [];
  rows.forEach((raw, index) => {
    const checked = checkRow(view, raw, now);
    if (checked.ok) good.push({ index, row: checked.row });
    else report.rejected.push({ index, entity_id: checked.entity_id, error: checked.error });
  });

  // Each entity's shard (a new entity's home is claimed here, as a first request would).
  const entities = [...new Set(good.map((g) => g.row.entity))];
  const placed = new Map<string, Shard | Error>();
  for (let i = 0; i < entities.length; i += PLACING) {
    await Promise.all(
      entities.slice(i, i + PLACING).map(async (entity) => {
        placed.set(entity, await placeKey(env, mesh, writer, entity, true).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
      }),
    );
  }
  const byShard = new Map<string, { shard: Shard; rows: typeof good }>();
  for (const g of good) {
    const shard = placed.get(g.row.entity)!;
    if (shard instanceof Error) {
      report.rejected.push({ index: g.index, entity_id: g.row.entity, error: shard.message, retryable: true });
      continue;
    }
    const group = byShard.get(shard.id) ?? { shard, rows: [] };
    group.rows.push(g);
    byShard.set(shard.id, group);
  }

  const stored: Array<{ index: number; row: FeatureRow; superseded: number }> = [];
  await Promise.all(
    [...byShard.values()].map(async ({ shard, rows: group }) => {
      try {
        const results = await callShard(env, mesh, shard, (stub) => stub.putFeatures(view.name, group.map((g) => g.row)));
        results.forEach((r, i) => stored.push({ ...group[i]!, superseded: r.superseded }));
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        for (const g of group) report.rejected.push({ index: g.index, entity_id: g.row.entity, error, retryable: true });
      }
    }),
  );
  stored.sort((a, b) => a.index - b.index);
  try {
    await appendLog(env.ARTIFACTS, view.name, stored.map((s) => s.row));
    report.accepted = stored.length;
    report.superseded = stored.reduce((n, s) => n + s.superseded, 0);
  } catch (err) {
    const error = `stored in its shard, but the view's offline log could not be written (${err instanceof Error ? err.message : String(err)}): send it again`;
    for (const s of stored) report.rejected.push({ index: s.index, entity_id: s.row.entity, error, retryable: true });
  }
  report.rejected.sort((a, b) => a.index - b.index);
  return report;
}
