// Dynamic batching inside an isolate (after Triton's dynamic batcher): concurrent requests to one
// session that arrive within maxQueueDelayMs, with the same requested outputs and the same
// non-batch dimensions, are concatenated along the first dimension into one session.run and the
// outputs split back by rows. A batch that fails is run again one request at a time, so every
// request still gets its own answer or its own error.
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
  /** Set when the batch takes no one else (it reached a preferred or the largest size). */
  closed: boolean;
  /** Every member's rows, or null when the merged run failed (each member then runs alone). */
  done: Promise<{ outputs: Outputs; rows: number } | null>;
}

/** How often the opener of a batch looks whether it filled up before its delay is out. */
const POLL_MS = 1;

type Run = (feeds: Feeds, names: string[]) => Promise<Outputs>;

/**
 * Workers cancel a request that waits on nothing of its own as hung, and refuse to let one request
 * settle a promise another request made. So the request that opens a batch owns it: it waits out
 * the delay on its own timer (looking every POLL_MS whether the batch filled up), runs it, and
 * settles the promise the others await (as concurrent first requests share one model load).
 */
export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private readonly preferred: ReadonlySet<number>;

  constructor(
    private readonly runOne: Run,
    private readonly settings: BatchSettings,
  ) {
    this.preferred = new Set(settings.preferredBatchSizes);
  }

  async run(feeds: Feeds, names: string[]): Promise<BatchedRun> {
    const rows = batchRows(feeds);
    if (rows === null || rows >= this.settings.maxBatchSize) return this.alone(feeds, names, rows ?? 1);
    const key = compatibility(feeds, names);
    let queue = this.queues.get(key);
    if (queue && queue.rows + rows > this.settings.maxBatchSize) {
      this.close(queue);
      queue = undefined;
    }
    const q = queue ?? this.open(key, names);
    const at = q.rows;
    q.members.push({ feeds, rows });
    q.rows += rows;
    if (q.rows >= this.settings.maxBatchSize || this.preferred.has(q.rows)) this.close(q);
    const merged = await q.done;
    if (!merged) return this.alone(feeds, names, rows);
    return { outputs: split(merged.outputs, at, rows), batchRows: merged.rows };
  }

  private alone(feeds: Feeds, names: string[], rows: number): Promise<BatchedRun> {
    return this.runOne(feeds, names).then((outputs) => ({ outputs, batchRows: rows }));
  }

  /** A new batch, run by the request opening it once its delay is out or it is closed. */
  private open(key: string, names: string[]): Queue {
    const q: Queue = { key, members: [], rows: 0, closed: false, done: Promise.resolve(null) };
    const { maxQueueDelayMs } = this.settings;
    q.done = (async () => {
      // At least one turn of the event loop, so requests that arrived together all join.
      let waited = 0;
      do {
        const step = Math.min(POLL_MS, maxQueueDelayMs - waited);
        await new Promise((resolve) => setTimeout(resolve, step));
        waited += Math.max(step, POLL_MS);
      } while (!q.closed && waited < maxQueueDelayMs);
      this.close(q);
      return this.runMerged(q, names);
    })();
    this.queues.set(key, q);
    return q;
  }

  private close(q: Queue): void {
    if (this.queues.get(q.key) === q) this.queues.delete(q.key);
    q.closed = true;
  }

  private async runMerged({ members, rows }: Queue, names: string[]): Promise<{ outputs: Outputs; rows: number } | null> {
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
