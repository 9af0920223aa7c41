// Turns a fuzz run into the printed tables, the grouped failures and the JSON result.
import type { Failure, FailureClass, Observation, Reproducer, Tally } from "./classify";
import type { FuzzCase } from "./generate";
import type { PredictionCheck } from "./run";

/** Failures of one kind with one answer (the error with numbers and quoted names blanked). */
export interface FailureGroup {
  class: FailureClass;
  status: number | null;
  signature: string;
  kind: string;
  count: number;
  /** The variants seen (numbers blanked), with their counts. */
  variants: Record<string, number>;
  example: Failure;
}

export interface FuzzResult {
  seed: number;
  count: number;
  concurrency: number;
  seconds: number;
  sent: number;
  controls: number;
  bodyMegabytes: number;
  byStatus: Record<string, number>;
  byKind: Record<string, { total: number; totalMs: number; byStatus: Record<string, number>; failures: number }>;
  failureCounts: Record<FailureClass, number>;
  failureGroups: FailureGroup[];
  /** Every failure's reproducer (the first MAX_LISTED_FAILURES of them). */
  failures: Failure[];
  observations: Record<string, Observation>;
  predictions: PredictionCheck;
  /** Which code served ("working tree" or a commit), and its processes before and after. */
  server: { code: string; before: string[]; after: string[]; restarted: boolean; reloads: number };
  workerErrorLog: string[];
  ok: boolean;
}

const MAX_LISTED_FAILURES = 500;

const normalise = (error: string) =>
  error
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, "N")
    .slice(0, 160);

export function groupFailures(failures: readonly Failure[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const f of failures) {
    const signature = normalise(f.error);
    const key = `${f.class}|${f.status}|${signature}|${f.repro.kind}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { class: f.class, status: f.status, signature, kind: f.repro.kind, count: 0, variants: {}, example: f }));
    g.count++;
    const variant = f.repro.variant.replace(/\d[\d,]*/g, "N").replace(/ \[[^\]]*\]$/, "");
    g.variants[variant] = (g.variants[variant] ?? 0) + 1;
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

export function buildResult(args: {
  seed: number;
  count: number;
  concurrency: number;
  seconds: number;
  tally: Tally;
  predictions: PredictionCheck;
  code: string;
  processesBefore: string[];
  processesAfter: string[];
  reloads: number;
  workerErrorLog: string[];
}): FuzzResult {
  const { tally } = args;
  // A workerd that is gone (or replaced) crashed or was restarted during the run.
  const restarted = args.processesBefore.some((p) => p.startsWith("workerd") && !args.processesAfter.includes(p));
  return {
    seed: args.seed,
    count: args.count,
    concurrency: args.concurrency,
    seconds: Math.round(args.seconds * 10) / 10,
    sent: tally.sent,
    controls: tally.controls,
    bodyMegabytes: Math.round(tally.bodyBytes / 1e5) / 10,
    byStatus: Object.fromEntries([...tally.byStatus].sort()),
    byKind: Object.fromEntries(tally.byKind),
    failureCounts: tally.failureCounts,
    failureGroups: groupFailures(tally.failures),
    failures: tally.failures.slice(0, MAX_LISTED_FAILURES),
    observations: Object.fromEntries(tally.observations),
    predictions: args.predictions,
    server: { code: args.code, before: args.processesBefore, after: args.processesAfter, restarted, reloads: args.reloads },
    workerErrorLog: args.workerErrorLog.slice(0, 100),
    ok: tally.failed === 0 && args.predictions.ok && !restarted && args.reloads === 0,
  };
}

const COLUMNS: ReadonlyArray<[string, (status: string) => boolean]> = [
  ["2xx", (s) => s.startsWith("2")],
  ["400", (s) => s === "400"],
  ["401/403", (s) => s === "401" || s === "403"],
  ["404", (s) => s === "404"],
  ["409", (s) => s === "409"],
  ["413", (s) => s === "413"],
  ["4xx other", (s) => s.startsWith("4") && !["400", "401", "403", "404", "409", "413"].includes(s)],
  ["5xx", (s) => s.startsWith("5")],
  ["no answer", (s) => s === "no response"],
];

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function formatResult(r: FuzzResult): string {
  const statusRows = Object.entries(r.byStatus).map(([s, n]) => [s, String(n)]);
  const kindRows = Object.entries(r.byKind).map(([kind, k]) => [
    kind,
    String(k.total),
    ...COLUMNS.map(([, match]) => String(Object.entries(k.byStatus).reduce((n, [s, c]) => n + (match(s) ? c : 0), 0))),
    String(k.failures),
    String(Math.round(k.totalMs / k.total)),
  ]);
  const out = [
    `fuzz: ${r.server.code}, seed ${r.seed}, ${r.sent} bad requests + ${r.controls} controls, ${r.bodyMegabytes} MB of bodies, concurrency ${r.concurrency}, ${r.seconds} s`,
    "",
    table(["status", "count"], statusRows),
    "",
    table(["kind", "total", ...COLUMNS.map(([c]) => c), "failures", "mean ms"], kindRows),
    "",
    `failures: 5xx ${r.failureCounts["5xx"]}, crashes ${r.failureCounts.crash}, bad error bodies ${r.failureCounts["bad-error-body"]}, controls ${r.failureCounts.control}` +
      ` (and ${r.failureCounts.harness} error pages of wrangler's proxy, not counted)`,
    `known predictions after the run: ${r.predictions.ok ? "unchanged" : `CHANGED (${r.predictions.changed.join(", ") || "not answered"})`}; server processes ${r.server.restarted ? "RESTARTED" : "the same"}; wrangler reloads during the run: ${r.server.reloads}`,
  ];
  for (const g of r.failureGroups) {
    const variants = Object.entries(g.variants).map(([v, n]) => `${v} x${n}`);
    out.push(
      "",
      `[${g.class}${g.status ? ` ${g.status}` : ""}] x${g.count} ${g.kind}: ${g.example.error.slice(0, 200)}`,
      `  variants: ${variants.slice(0, 8).join("; ")}${variants.length > 8 ? `; … ${variants.length - 8} more` : ""}`,
      `  e.g. ${describeRepro(g.example.repro)}`,
    );
  }
  for (const [what, o] of Object.entries(r.observations)) out.push("", `note: ${what}: x${o.count}, e.g. ${describeRepro(o.example)}`);
  return out.join("\n");
}

const describeRepro = (p: Reproducer) =>
  `#${p.index} ${p.variant}: ${p.method} ${p.path.slice(0, 120)}${p.bodyBytes ? ` (${p.bodyBytes} bytes, ${p.framing}) ${p.bodySample.slice(0, 160)}` : ""}`;

// A token given as "$ADMIN_TOKEN" (--emit's default) is left for the shell to expand.
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`.replaceAll("$ADMIN_TOKEN", `'"$ADMIN_TOKEN"'`);

/** A curl command for one case, its body read from `bodyFile`. */
export function curlFor(c: FuzzCase, url: string, bodyFile: string | null): string {
  const parts = ["curl", "-sS", "-i", "-X", c.method];
  for (const [k, v] of Object.entries(c.headers)) parts.push("-H", shellQuote(`${k}: ${v}`));
  if (bodyFile && c.framing === "chunked") parts.push("-H", shellQuote("transfer-encoding: chunked"));
  if (bodyFile) parts.push("--data-binary", `@${bodyFile}`);
  parts.push(shellQuote(`${url}${c.path}`));
  return parts.join(" ");
}
