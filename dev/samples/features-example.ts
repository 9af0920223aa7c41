// The online-features worked example (README "Online features"): a shop predicting whether a user
// buys an item. The item's price and discount come with the request; what the shop knows about
// the user (a loyalty score, recent visits and returns) lives in the feature view `user_stats`.
// Whether a user buys depends on both, so a model that sees only the item cannot do well.
//
// Written by `npx tsx dev/samples/features-example.ts <dir>`: views.json (the view, to define),
// binding.json (the model's binding naming it), rows.jsonl (feature rows: each user's values two
// and three days ago, and newer ones twelve hours ago), examples.jsonl (labelled examples with
// entity_id, labelled with the values of two days ago: train on an export --as-of one day ago).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FeatureBinding, FeatureView } from "../../shared/features";
import { seededRandom } from "../../shared/random";

export const USER_STATS: FeatureView = {
  name: "user_stats",
  entity: "user",
  consistency: "strong",
  features: [
    { name: "loyalty", datatype: "FP32", shape: [], default: 0, maxAgeMs: 30 * 86_400_000 },
    { name: "recent", datatype: "FP32", shape: [2] },
  ],
};

/** The model's binding: the view fills input "user" (the item's own values go to "features"). */
export const BINDING = [{ name: "user_stats", input: "user" }] as const;

const DAY = 86_400_000;

export interface ExampleData {
  /** Feature rows {entity_id, values, event_time}. */
  rows: Array<{ entity_id: string; values: { loyalty: number; recent: [number, number] }; event_time: string }>;
  /** Labelled examples {entity_id, features: [price, discount], label}. */
  examples: Array<{ entity_id: string; features: [number, number]; label: "buy" | "pass" }>;
  /** The time to export the view as of: after the values the labels used, before the newer ones. */
  asOf: number;
}

/** Whether a user with these values buys the item (what the labels follow). */
export function buys(loyalty: number, recent: readonly number[], price: number, discount: number): boolean {
  return 2 * loyalty + 0.5 * recent[0]! - recent[1]! - price + 2 * discount > 0.6;
}

const round = (x: number) => Math.round(x * 100) / 100;

export function exampleData(now: number, users = 300, examplesPerUser = 8, seed = 7): ExampleData {
  const rand = seededRandom(seed);
  const rows: ExampleData["rows"] = [];
  const examples: ExampleData["examples"] = [];
  const at = (t: number) => new Date(t).toISOString();
  for (let u = 0; u < users; u++) {
    const id = `u${u}`;
    const values = () => ({ loyalty: round(rand()), recent: [Math.floor(rand() * 4), Math.floor(rand() * 3)] as [number, number] });
    const older = values();
    const labelled = values();
    const newer = values();
    rows.push({ entity_id: id, values: older, event_time: at(now - 3 * DAY) });
    rows.push({ entity_id: id, values: labelled, event_time: at(now - 2 * DAY) });
    rows.push({ entity_id: id, values: newer, event_time: at(now - DAY / 2) });
    for (let e = 0; e < examplesPerUser; e++) {
      const price = round(rand() * 2);
      const discount = round(rand() * 0.5);
      examples.push({ entity_id: id, features: [price, discount], label: buys(labelled.loyalty, labelled.recent, price, discount) ? "buy" : "pass" });
    }
  }
  return { rows, examples, asOf: now - DAY };
}

/** Writes the example's files into `dir`; returns their paths. */
export function writeExample(dir: string, now = Date.now()): { views: string; binding: string; rows: string; examples: string; asOf: number } {
  mkdirSync(dir, { recursive: true });
  const data = exampleData(now);
  const lines = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join("\n") + "\n";
  const paths = { views: join(dir, "views.json"), binding: join(dir, "binding.json"), rows: join(dir, "rows.jsonl"), examples: join(dir, "examples.jsonl") };
  writeFileSync(paths.views, JSON.stringify([USER_STATS], null, 2) + "\n");
  writeFileSync(paths.binding, JSON.stringify(BINDING, null, 2) + "\n");
  writeFileSync(paths.rows, lines(data.rows));
  writeFileSync(paths.examples, lines(data.examples));
  return { ...paths, asOf: data.asOf };
}

/** The binding spelled out (what a manifest ends up carrying). */
export const FULL_BINDING: FeatureBinding[] = [{ ...USER_STATS, input: "user" }];

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: npx tsx dev/samples/features-example.ts <dir>\n");
    process.exit(2);
  }
  const p = writeExample(dir);
  process.stdout.write(`wrote ${p.views}, ${p.binding}, ${p.rows}, ${p.examples}\nexport the view as of ${new Date(p.asOf).toISOString()} (after the values the labels used, before the newer ones)\n`);
}
