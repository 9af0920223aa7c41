// Dynamic batching inside an isolate (after Triton's dynamic batcher): concurrent requests to one
// session that arrive within maxQueueDelayMs, with the same requested outputs and the same
// non-batch dimensions, are concatenated along the first dimension into one session.run and the
// outputs split back by rows. A batch that fails is run again one request at a time, so every
// request still gets its own answer or its own error. A request that finds no batch open, while
// the recent arrival rate says no other is likely within the delay, runs at once: waiting would
// only add the delay and its timers (measured in bench:dataplane's sweep at low rates).
import { ort } from "./ort";

export interface BatchSettings {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  preferredBatchSizes: number[];
}

export type Feeds = Record<string, ort.Tensor>;
export type Outputs = Record<string, ort.Tensor>;

/** What one request got back: its own rows of every output, and how many rows its run had. */
export interface BatchedRun {
  outputs: Outputs;
  batchRows: number;
}

interface Member {
  feeds: Feeds;
  rows: number;
}

interface Queue {
  key: string;
  members: Member[];
  rows: number;
  /** Set when the batch takes no one else (it reached a preferred or the largest size, or runs). */
  closed: boolean;
  /** Set by the member that runs the batch. */
  running: boolean;
  /** Every member's rows, null when the merged run failed (each member then runs alone); undefined until run. */
  outcome: Merged | null | undefined;
}

interface Merged {
  outputs: Outputs;
  rows: number;
}

/** How often a waiting member looks whether its batch is due or done. */
const POLL_MS = 1;

/** How long members wait on a run that has not reported before each runs alone. */
const ABANDONED_MS = 10_000;

/** Arrivals that estimate the rate (the newest included): few, so a burst after a lull batches soon. */
const RATE_ARRIVALS = 4;

/** An opener waits for company only when at least this many others are expected within the delay. */
const EXPECTED_COMPANY = 0.5;

type Run = (feeds: Feeds, names: string[]) => Promise<Outputs>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Workers cancel a request with nothing pending of its own as hung, and drop the continuation of
 * a request that awaits a promise another request settles once that other request ends. So no
 * member awaits another's promise: each waits on its own timer, looking every POLL_MS at a plain
 * field. The first member to find the batch due (full, or its own wait past the delay) runs it
 * in its own request, so a batch whose opener went away is still run by whoever stayed.
 */
export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private readonly preferred: ReadonlySet<number>;
  /** The latest arrival times, oldest first. */
  private readonly arrivals: number[] = [];

  constructor(
    private readonly runOne: Run,
    private readonly settings: BatchSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.preferred = new Set(settings.preferredBatchSizes);
  }

  async run(feeds: Feeds, names: string[]): Promise<BatchedRun> {
    const lonely = this.arrive();
    const rows = batchRows(feeds);
    if (rows === null || rows >= this.settings.maxBatchSize) return this.alone(feeds, names, rows ?? 1);
    const key = compatibility(feeds, names);
    let q = this.queues.get(key);
    if (q && q.rows + rows > this.settings.maxBatchSize) {
      this.close(q);
      q = undefined;
    }
    if (!q && lonely) return this.alone(feeds, names, rows);
    if (!q) {
      q = { key, members: [], rows: 0, closed: false, running: false, outcome: undefined };
      this.queues.set(key, q);
    }
    const at = q.rows;
    q.members.push({ feeds, rows });
    q.rows += rows;
    if (q.rows >= this.settings.maxBatchSize || this.preferred.has(q.rows)) this.close(q);
    const merged = await this.settle(q, names);
    if (!merged) return this.alone(feeds, names, rows);
    return { outputs: split(merged.outputs, at, rows), batchRows: merged.rows };
  }

  /**
   * Records an arrival; true when the rate of the last RATE_ARRIVALS says fewer than
   * EXPECTED_COMPANY others will come within the delay. Without that much history, or with
   * arrivals at the same instant, it waits as configured.
   */
  private arrive(): boolean {
    const t = this.now();
    this.arrivals.push(t);
    if (this.arrivals.length > RATE_ARRIVALS) this.arrivals.shift();
    const span = t - this.arrivals[0]!;
    if (this.arrivals.length < RATE_ARRIVALS || span <= 0 || this.settings.maxQueueDelayMs <= 0) return false;
    return ((RATE_ARRIVALS - 1) / span) * this.settings.maxQueueDelayMs < EXPECTED_COMPANY;
  }

  private alone(feeds: Feeds, names: string[], rows: number): Promise<BatchedRun> {
    return this.runOne(feeds, names).then((outputs) => ({ outputs, batchRows: rows }));
  }

  /** Waits (on this request's own timers) until the batch is due, runs it if no one has, and returns its outcome. */
  private async settle(q: Queue, names: string[]): Promise<Merged | null> {
    const { maxQueueDelayMs } = this.settings;
    let waited = 0;
    while (q.outcome === undefined) {
      if (!q.running && (q.closed || (waited > 0 && waited >= maxQueueDelayMs))) {
        q.running = true;
        this.close(q);
        q.outcome = await this.runMerged(q, names);
        break;
      }
      // The opener waits at least one turn of the event loop, so requests that arrived together all join.
      const step = q.running ? POLL_MS : Math.max(0, Math.min(POLL_MS, maxQueueDelayMs - waited));
      await sleep(step);
      waited += Math.max(step, POLL_MS);
      // A runner whose request was cancelled mid-run never reports: run alone rather than wait on.
      if (waited > maxQueueDelayMs + ABANDONED_MS) return null;
    }
    return q.outcome;
  }

  private close(q: Queue): void {
    if (this.queues.get(q.key) === q) this.queues.delete(q.key);
    q.closed = true;
  }

  private async runMerged({ members, rows }: Queue, names: string[]): Promise<Merged | null> {
    if (members.length === 1) return null; // alone after all: it runs as it came
    try {
      const outputs = await this.runOne(concat(members.map((m) => m.feeds)), names);
      // Only outputs whose first dimension is the batch can be split back.
      return Object.values(outputs).every((t) => t.dims[0] === rows) ? { outputs, rows } : null;
    } catch {
      return null; // whatever failed, each request learns its own fate alone
    }
  }
}

/** The shared first dimension of every input, or null when they disagree (not batchable). */
function batchRows(feeds: Feeds): number | null {
  let rows: number | null = null;
  for (const t of Object.values(feeds)) {
    const d = t.dims[0];
    if (d === undefined || (rows !== null && d !== rows)) return null;
    rows = d;
  }
  return rows;
}

/** Requests merge only with the same outputs asked for and the same types and non-batch dims. */
function compatibility(feeds: Feeds, names: string[]): string {
  const inputs = Object.keys(feeds)
    .sort()
    .map((k) => `${k}:${feeds[k]!.type}[${feeds[k]!.dims.slice(1).join(",")}]`);
  return `${[...names].sort().join(",")}|${inputs.join(";")}`;
}

type Data = Exclude<ort.Tensor["data"], string[]>;

function concat(all: Feeds[]): Feeds {
  const out: Feeds = {};
  for (const [name, head] of Object.entries(all[0]!)) {
    const parts = all.map((f) => f[name]!);
    const dims = [parts.reduce((n, t) => n + t.dims[0]!, 0), ...head.dims.slice(1)];
    if (head.type === "string") {
      out[name] = new ort.Tensor("string", parts.flatMap((t) => t.data as string[]), dims);
      continue;
    }
    const data = parts.map((t) => t.data as Data);
    const Typed = data[0]!.constructor as new (length: number) => Data;
    const merged = new Typed(data.reduce((n, d) => n + d.length, 0));
    let at = 0;
    for (const d of data) {
      (merged as Uint8Array).set(d as Uint8Array, at); // same typed-array kind throughout
      at += d.length;
    }
    out[name] = new ort.Tensor(head.type, merged, dims);
  }
  return out;
}

/** Rows [from, from + rows) of every output, copied so one request's answer holds no other's. */
function split(outputs: Outputs, from: number, rows: number): Outputs {
  const out: Outputs = {};
  for (const [name, t] of Object.entries(outputs)) {
    const width = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const part = (t.data as Data | string[]).slice(from * width, (from + rows) * width);
    out[name] = new ort.Tensor(t.type, part, [rows, ...t.dims.slice(1)]);
  }
  return out;
}
