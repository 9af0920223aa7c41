// `meridian features put <view> --file rows.jsonl`: streams a file of rows (one JSON object
// {entity_id, values, event_time} a line, any size: never held in memory) to PUT
// /admin/features/{view} in batches bounded by rows and by the edge's body limit. After each
// batch the edge acknowledged, a checkpoint (<file>.progress.json, or --checkpoint) records the
// last line it covered; `--resume` continues after it. Sending a batch twice is harmless (the
// edge keeps the value with the latest event_time), so a batch whose answer was lost is simply
// sent again. Rows the edge refuses are reported with their line numbers and never stop the run;
// rows refused only because their shard could not be reached are retried, then stop the run.
// `meridian features export` is in features-export.ts.
import { createReadStream, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import cliProgress from "cli-progress";
import { InvalidArgumentError, type Command } from "commander";
import type { WriteReport } from "../../shared/feature-rows";
import { z } from "zod";
import { FeatureBindingSchema, FeatureViewSchema, VIEW_NAME, viewOf, type FeatureView } from "../../shared/features";
import { action } from "../failure";
import { exportView, parseTime } from "./features-export";
import { clientFor, printJson, withConnection, type ConnectionFlags } from "./common";
import type { AdminClient } from "./client";

export const DEFAULT_BATCH_ROWS = 500;
/** Rows whose shard could not be reached are sent again this many times before the run stops. */
const RETRIES = 3;
/** How many refused rows the summary lists (all are counted). */
const LISTED = 100;

export interface Checkpoint {
  view: string;
  file: string;
  /** The file's size when the checkpoint was written: a different file under the same name is refused. */
  size: number;
  /** The last line (1-based) every row up to which the edge has acknowledged. */
  line: number;
  accepted: number;
  rejected: number;
}

export interface PutSummary {
  view: string;
  file: string;
  /** Line the run started after (0, or the checkpoint's with --resume). */
  resumedAfter: number;
  lines: number;
  accepted: number;
  superseded: number;
  rejected: number;
  /** The first refused rows, by line. */
  rejects: Array<{ line: number; entity_id: string | null; error: string }>;
  batches: number;
}

export interface PutOptions {
  batchRows: number;
  checkpoint: string;
  resume: boolean;
  onProgress?: (bytes: number, total: number) => void;
}

export async function putFeatureFile(client: AdminClient, view: string, file: string, opts: PutOptions): Promise<PutSummary> {
  const size = statSync(file).size;
  let after = 0;
  let prior = { accepted: 0, rejected: 0 };
  if (opts.resume && existsSync(opts.checkpoint)) {
    const saved = JSON.parse(readFileSync(opts.checkpoint, "utf8")) as Checkpoint;
    if (saved.view !== view || saved.size !== size) {
      throw new Error(`checkpoint ${opts.checkpoint} is for view "${saved.view}" and a ${saved.size}-byte file, not "${view}" and ${size} bytes: remove it to start again`);
    }
    after = saved.line;
    prior = { accepted: saved.accepted, rejected: saved.rejected };
  }
  // The edge's body limit, less room for the envelope: a batch never gets a 413.
  const maxBytes = ((await client.limits())?.maxBodyBytes ?? 4 << 20) - 1024;
  const summary: PutSummary = { view, file, resumedAfter: after, lines: 0, accepted: prior.accepted, superseded: 0, rejected: prior.rejected, rejects: [], batches: 0 };
  const reject = (line: number, entity_id: string | null, error: string) => {
    summary.rejected++;
    if (summary.rejects.length < LISTED) summary.rejects.push({ line, entity_id, error });
  };

  let batch: Array<{ line: number; row: unknown }> = [];
  let batchBytes = 0;
  let lastLine = after;
  const send = async () => {
    if (batch.length === 0) return;
    let pending = batch;
    for (let attempt = 0; ; attempt++) {
      const report: WriteReport = await client.putFeatures(view, pending.map((b) => b.row));
      summary.accepted += report.accepted;
      summary.superseded += report.superseded;
      const retry: typeof pending = [];
      for (const r of report.rejected) {
        if (r.retryable) retry.push(pending[r.index]!);
        else reject(pending[r.index]!.line, r.entity_id, r.error);
      }
      if (retry.length === 0) break;
      if (attempt === RETRIES) {
        const first = report.rejected.find((r) => r.retryable)!;
        throw new Error(`line ${retry[0]!.line}: ${first.error} (still after ${RETRIES} retries)`);
      }
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      pending = retry;
    }
    summary.batches++;
    const end = batch[batch.length - 1]!.line;
    batch = [];
    batchBytes = 0;
    save({ view, file, size, line: end, accepted: summary.accepted, rejected: summary.rejected });
  };
  const save = (c: Checkpoint) => {
    writeFileSync(`${opts.checkpoint}.tmp`, JSON.stringify(c));
    renameSync(`${opts.checkpoint}.tmp`, opts.checkpoint);
  };

  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let n = 0;
  let read = 0;
  try {
    for await (const text of lines) {
      n++;
      read += Buffer.byteLength(text) + 1;
      opts.onProgress?.(Math.min(read, size), size);
      if (n <= after) continue;
      summary.lines++;
      lastLine = n;
      if (text.trim() === "") continue;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch {
        reject(n, null, "not a JSON object");
        continue;
      }
      const bytes = Buffer.byteLength(text) + 1;
      if (bytes > maxBytes) {
        reject(n, null, `the row is ${bytes} bytes, more than one request to the edge may carry (${maxBytes})`);
        continue;
      }
      if (batch.length >= opts.batchRows || batchBytes + bytes > maxBytes) await send();
      batch.push({ line: n, row });
      batchBytes += bytes;
    }
    await send();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const done = existsSync(opts.checkpoint) ? (JSON.parse(readFileSync(opts.checkpoint, "utf8")) as Checkpoint).line : after;
    throw new Error(`${reason}; lines 1..${done} are acknowledged (${opts.checkpoint}): run again with --resume to continue after line ${done}`);
  }
  // Blank or refused lines after the last batch: the checkpoint covers them too.
  save({ view, file, size, line: lastLine, accepted: summary.accepted, rejected: summary.rejected });
  return summary;
}

interface PutFlags extends ConnectionFlags {
  file: string;
  batchRows: number;
  checkpoint?: string;
  resume?: boolean;
}

export function registerFeatures(program: Command): void {
  const features = program.command("features").description("online features: rows of feature views, kept in each entity's home shard");
  withConnection(
    features
      .command("put")
      .description("write a JSONL file of rows {entity_id, values, event_time} to a feature view, in batches, resumably")
      .argument("<view>", "the feature view (declared in a pushed manifest)", parseView)
      .requiredOption("--file <rows.jsonl>", "one row a line")
      .option("--batch-rows <n>", `rows per request (default ${DEFAULT_BATCH_ROWS}; the edge's body limit also bounds a batch)`, parseRows, DEFAULT_BATCH_ROWS)
      .option("--checkpoint <file>", "where the last acknowledged line is kept (default <file>.progress.json)")
      .option("--resume", "continue after the checkpoint's line (from the start when there is none)"),
  ).action(
    action("features put", async (view: string, flags: PutFlags) => {
      if (!existsSync(flags.file)) throw new Error(`${flags.file} does not exist`);
      const client = clientFor(flags);
      const bar = !flags.json && process.stderr.isTTY === true ? new cliProgress.SingleBar({ stream: process.stderr, format: `features ${view} [{bar}] {percentage}% {value}/{total} bytes`, hideCursor: true }, cliProgress.Presets.shades_classic) : null;
      let started = false;
      let summary: PutSummary;
      try {
        summary = await putFeatureFile(client, view, flags.file, {
          batchRows: flags.batchRows,
          checkpoint: flags.checkpoint ?? `${flags.file}.progress.json`,
          resume: flags.resume === true,
          onProgress: (bytes, total) => {
            if (!started) bar?.start(total, 0);
            started = true;
            bar?.update(bytes);
          },
        });
      } finally {
        bar?.stop();
      }
      if (flags.json) {
        printJson(summary);
        return;
      }
      const from = summary.resumedAfter > 0 ? ` (resumed after line ${summary.resumedAfter})` : "";
      const lines = [`${view}: ${summary.accepted} rows accepted, ${summary.rejected} refused, ${summary.superseded} values superseded by newer ones${from}`];
      for (const r of summary.rejects) lines.push(`  line ${r.line}${r.entity_id ? ` (${r.entity_id})` : ""}: ${r.error}`);
      if (summary.rejected > summary.rejects.length) lines.push(`  … and ${summary.rejected - summary.rejects.length} more`);
      process.stdout.write(`${lines.join("\n")}\n`);
    }),
  );
  registerDefine(features);
  registerExport(features);
}

function registerDefine(features: Command): void {
  withConnection(
    features
      .command("define")
      .description("define feature views on their own, before any model names them (a JSON view or list of views; bindings' input/offset are ignored)")
      .argument("<file>", "views.json"),
  ).action(
    action("features define", async (file: string, flags: ConnectionFlags) => {
      const views = viewsIn(readFileSync(file, "utf8"), file);
      const client = clientFor(flags);
      const results = [];
      for (const view of views) results.push(await client.defineView(view));
      if (flags.json) return printJson(results);
      process.stdout.write(results.map((r) => `${r.view}: ${r.created ? "defined" : "already defined, the same"}\n`).join(""));
    }),
  );
}

/** The views a `features define` file holds: one definition or a list (bindings give their definition part). */
export function viewsIn(text: string, file: string): FeatureView[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON`);
  }
  const parsed = z.array(z.union([FeatureBindingSchema, FeatureViewSchema])).min(1).safeParse(Array.isArray(value) ? value : [value]);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${file}: ${issue.path.join(".") || "value"}: ${issue.message}`);
  }
  return parsed.data.map((v) => ("input" in v ? viewOf(v) : v));
}

interface ExportFlags extends ConnectionFlags {
  asOf: string;
  out: string;
}

function registerExport(features: Command): void {
  withConnection(
    features
      .command("export")
      .description("write a view's values as they stood at a time (from the edge's offline log), for `meridian train --feature-values`")
      .argument("<view>", "the feature view", parseView)
      .option("--as-of <time>", "RFC 3339 time with its zone, epoch ms, or now", "now")
      .requiredOption("--out <file>", "the export file (a header line, then one JSON line per entity)"),
  ).action(
    action("features export", async (view: string, flags: ExportFlags) => {
      const asOf = parseTime(flags.asOf);
      const summary = await exportView(clientFor(flags), view, asOf, flags.out, () => {
        if (!flags.json && process.stderr.isTTY) process.stderr.write(".");
      });
      if (flags.json) return printJson(summary);
      if (process.stderr.isTTY) process.stderr.write("\n");
      process.stdout.write(
        `${view} as of ${summary.as_of}: ${summary.entities} entities from ${summary.rows.read - summary.rows.later} rows (${summary.rows.later} later rows left out; ${summary.objects.read} log objects read, ${summary.objects.skipped} skipped) → ${summary.file}\n`,
      );
    }),
  );
}

function parseView(value: string): string {
  if (!VIEW_NAME.test(value)) throw new InvalidArgumentError("feature view names match [a-z0-9][a-z0-9_-]{0,63}.");
  return value;
}

function parseRows(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError("a batch is a positive number of rows.");
  return Number(value);
}
