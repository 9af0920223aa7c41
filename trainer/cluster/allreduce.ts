// `--reduce replicated`: the averaged gradient is reduced by the workers themselves, in slices,
// through Redis (a reduce-scatter and an all-gather), so no process reads every gradient and the
// weights are never broadcast after a session's first snapshot.
//
// One step s with K shards; the parameter vector is cut into K slices (sliceBounds):
//   worker of shard j   MULTI: RPUSH g:s:j:r <slice r of its gradient> for every r, its done record,
//                       the claim, and the arrival (SADD arr:s j; the K-th distinct shard pushes
//                       ready:s = "K"). One atomic round trip.
//   any participant     once ready:s exists, takes reducer slot r with SET rc:s:r NX PX claimMs (a
//                       lease: a reducer that dies loses the slot when it expires), reads slice r
//                       of the K gradients, averages them weighted by rows in shard order (float64,
//                       rounded once, exactly as averageGradients does), and stores r:s:r with SET
//                       NX (first copy wins) and pushes rn:s:r, the list waiters block on.
//   every replica       reads r:s:0 … r:s:K-1 and applies the same gradient with the same optimizer
//                       code (optimizer.ts: + − × ÷ sqrt only), so replicas stay bit-identical.
// Nobody waits inside its own gradient job for the other shards (one worker with two shards would
// deadlock): a participant reduces while it waits for the reduced gradient it needs next, or the
// coordinator does it after a grace period when no worker is left to.
// Slices travel in the run's encoding (bf16 halves every transfer, reduced slices included); each
// gradient slice starts with the shard's row count (u32) so a reducer needs nothing else.
// Where slices live: on the run's Redis, or spread over reduce nodes (`--reduce-redis`: slice r's
// keys on node r mod R, plain Redis servers), so no single Redis carries every byte of a step.
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { connectRedis, redactUrl } from "./redis";
import { bf16ToF32, f32ToBf16 } from "../../shared/bf16";
import { GRADIENT_BYTES, type GradientEncoding } from "../train/gradient-encoding";

/** Keys of one coordinator session's reduction, under its run key (`base`). */
export function reduceKeys(base: string) {
  return {
    grad: (step: number, shard: number, slice: number) => `${base}:g:${step}:${shard}:${slice}`,
    /** Set of shards delivered for the step. */
    arrivals: (step: number) => `${base}:arr:${step}`,
    /** One element, the step's slice count, once every shard delivered. */
    ready: (step: number) => `${base}:ready:${step}`,
    /** The reduced slice (a string: stored with SET NX, first copy wins) … */
    reduced: (step: number, slice: number) => `${base}:r:${step}:${slice}`,
    /** … and a list pushed beside it, which waiters block on. */
    reducedReady: (step: number, slice: number) => `${base}:rn:${step}:${slice}`,
    /** Reducer slot lease of (step, slice). */
    claim: (step: number, slice: number) => `${base}:rc:${step}:${slice}`,
    /** One element: the session's latest snapshot (an encoded checkpoint) replicas start from. */
    snapshot: `${base}:snap`,
  };
}
export type ReduceKeys = ReturnType<typeof reduceKeys>;

/** A slice's Redis: a connection for commands and one this process may block on. */
export type SliceNode = { redis: Redis; blocking: Redis };

/** The Redis servers slices live on: slice r on node r mod R. */
export class SliceNodes {
  private constructor(
    private readonly nodes: SliceNode[],
    /** True when the only node is the run's own Redis (then a delivery can be one MULTI). */
    readonly shared: boolean,
    private readonly owned: Redis[],
  ) {}

  /** The run's Redis holds every slice. */
  static onRunRedis(redis: Redis, blocking: Redis): SliceNodes {
    return new SliceNodes([{ redis, blocking }], true, []);
  }

  /** Dedicated reduce nodes (redis:// URLs). */
  static connect(urls: readonly string[]): SliceNodes {
    if (urls.length === 0) throw new Error("SliceNodes.connect: no reduce node");
    const owned: Redis[] = [];
    const nodes = urls.map((u) => {
      const n = { redis: connectRedis(u), blocking: connectRedis(u) };
      owned.push(n.redis, n.blocking);
      return n;
    });
    return new SliceNodes(nodes, false, owned);
  }

  get count(): number {
    return this.nodes.length;
  }

  of(slice: number): SliceNode {
    return this.nodes[slice % this.nodes.length]!;
  }

  close(): void {
    for (const r of this.owned) r.disconnect();
  }
}

/**
 * Names a list of reduce nodes without their credentials (jobs carry it, so every worker can check
 * that it reduces on the same servers as the coordinator): "" for none.
 */
export function reduceNodesFingerprint(urls: readonly string[]): string {
  if (urls.length === 0) return "";
  return createHash("sha256").update(urls.map(redactUrl).join("\n")).digest("hex").slice(0, 12);
}

/** Parameter slice r of K: [start, end). */
export function sliceBounds(params: number, slices: number, r: number): [number, number] {
  return [Math.floor((params * r) / slices), Math.floor((params * (r + 1)) / slices)];
}

/** KEYS: arrivals, ready. ARGV: shard, slices, ttl s. Returns 1 when this arrival completed the step. */
export const ARRIVE_LUA = `
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0`;

/**
 * KEYS: reduced, claim, the K gradient slices. ARGV: owner, claim ms. Takes the reducer slot and
 * returns the K slices in the same round trip; nil when the slice is reduced or its slot held.
 */
const CLAIM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
if not redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return nil end
local out = {}
for i = 3, #KEYS do out[i - 2] = redis.call('LINDEX', KEYS[i], 0) end
return out`;


/** A gradient slice on the wire: u32 rows | values (float32, or bfloat16 bit patterns). */
export function encodeGradSlice(rows: number, values: Float32Array, encoding: GradientEncoding): Buffer {
  const body = encoding === "bf16" ? f32ToBf16(values) : values;
  const out = Buffer.alloc(4 + body.byteLength);
  out.writeUInt32LE(rows, 0);
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, 4);
  return out;
}

/** The values of `b` from `offset` as float32, into `out` when given (else a new array); a view of `b` when aligned, never an extra copy. */
function decodeValues(b: Buffer, offset: number, encoding: GradientEncoding, expect: number, what: string, out?: Float32Array): Float32Array {
  const width = GRADIENT_BYTES[encoding];
  if (b.length - offset !== expect * width) throw new Error(`${what}: ${b.length - offset} bytes, expected ${expect} ${encoding} values`);
  const at = b.byteOffset + offset;
  if (width === 2) return bf16ToF32(at % 2 === 0 ? new Uint16Array(b.buffer, at, expect) : new Uint16Array(b.buffer.slice(at, at + expect * 2)), out);
  const values = at % 4 === 0 ? new Float32Array(b.buffer, at, expect) : new Float32Array(b.buffer.slice(at, at + expect * 4));
  if (!out) return values;
  out.set(values);
  return out;
}

/** A reduced slice on the wire: its values in the run's encoding. */
export function encodeReduced(values: Float32Array, encoding: GradientEncoding): Buffer {
  const body = encoding === "bf16" ? f32ToBf16(values) : values;
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** One step's reduction as seen by one participant. */
export type ReduceOptions = {
  /** The run's Redis (arrivals, readiness) and a connection to it this call may block on. */
  redis: Redis;
  blocking: Redis;
  /** Where the slices live. */
  nodes: SliceNodes;
  keys: ReduceKeys;
  step: number;
  paramCount: number;
  encoding: GradientEncoding;
  ttlSeconds: number;
  /** Reducer slot lease. */
  claimMs: number;
  /** Wait this long after the step's gradients are all in before taking slots (the coordinator's grace). */
  claimAfterMs?: number;
  /** Which slice to try first (spreads the slots over participants). */
  firstSlice?: number;
  /** Called between blocking waits: "ok" to keep waiting, anything else to give up with it. */
  check: () => Promise<"ok" | "stale" | "yield">;
  owner: string;
};

export type ReduceResult = { grads: Float32Array; slicesReduced: number; reduceMs: number; bytesRead: number; bytesWritten: number };

/**
 * The step's averaged gradient: waits for the reduced slices, taking free reducer slots itself
 * once every shard's gradient is in.
 */
export async function awaitReduced(o: ReduceOptions): Promise<ReduceResult | "stale" | "yield"> {
  const { redis, blocking, keys, step } = o;
  let slices: number | undefined;
  let got: (Buffer | null)[] = [];
  let readyAt: number | undefined;
  const r: ReduceResult = { grads: new Float32Array(0), slicesReduced: 0, reduceMs: 0, bytesRead: 0, bytesWritten: 0 };
  for (;;) {
    if (slices === undefined) {
      const ready = await redis.lindex(keys.ready(step), 0);
      if (ready !== null) {
        slices = Number(ready);
        got = new Array<Buffer | null>(slices).fill(null);
        readyAt = performance.now();
      }
    }
    if (slices !== undefined) {
      const missing = got.map((g, i) => (g ? -1 : i)).filter((i) => i >= 0);
      if (missing.length > 0) {
        // Sent back to back on each node's connection (pipelined by the socket), answered together.
        const res = await Promise.all(missing.map((i) => o.nodes.of(i).redis.getBuffer(keys.reduced(step, i))));
        missing.forEach((i, k) => {
          const v = res[k];
          if (v) {
            got[i] = v;
            r.bytesRead += v.length;
          }
        });
      }
      const still = got.map((g, i) => (g ? -1 : i)).filter((i) => i >= 0);
      if (still.length === 0) break;
      if (performance.now() - readyAt! >= (o.claimAfterMs ?? 0)) {
        const first = (o.firstSlice ?? 0) % slices;
        const order = [...still.filter((i) => i >= first), ...still.filter((i) => i < first)];
        for (const i of order) {
          const slice = await reduceIfFree(o, slices, i, r);
          if (slice) got[i] = slice;
        }
        if (got.every((g) => g)) break;
      }
    }
    // Block until something changes: the step becoming ready, or the first missing slice.
    const waitOn = slices === undefined ? { key: keys.ready(step), conn: blocking } : (() => {
      const i = got.findIndex((g) => !g);
      return { key: keys.reducedReady(step, i), conn: o.nodes.of(i).blocking };
    })();
    const v = await waitOn.conn.blmoveBuffer(waitOn.key, waitOn.key, "LEFT", "LEFT", 0.2);
    if (!v) {
      const c = await o.check();
      if (c !== "ok") return c;
    }
  }
  const grads = new Float32Array(o.paramCount);
  got.forEach((b, i) => {
    const [start, end] = sliceBounds(o.paramCount, slices!, i);
    decodeValues(b!, 0, o.encoding, end - start, `reduced slice ${i} of step ${step + 1}`, grads.subarray(start, end));
  });
  r.grads = grads;
  return r;
}

/**
 * Reduces slice i of the step if its reducer slot is free (every gradient is in) and stores it
 * unless a copy is there; returns the stored bytes, or null when someone else has the slot.
 */
export async function reduceIfFree(o: ReduceOptions, slices: number, i: number, r: ReduceResult): Promise<Buffer | null> {
  const { keys, step } = o;
  const { redis } = o.nodes.of(i);
  const t0 = performance.now();
  const grads = Array.from({ length: slices }, (_, j) => keys.grad(step, j, i));
  const res = (await redis.callBuffer("EVAL", CLAIM_LUA, 2 + slices, keys.reduced(step, i), keys.claim(step, i), ...grads, o.owner, o.claimMs)) as (Buffer | null)[] | null;
  if (!res) return null;
  const [start, end] = sliceBounds(o.paramCount, slices, i);
  const parts = res.map((b, j) => {
    if (!b) throw new Error(`step ${step + 1}: the gradient of shard ${j} (slice ${i}) is gone from Redis (expired?)`);
    r.bytesRead += b.length;
    return { n: b.readUInt32LE(0), g: decodeValues(b, 4, o.encoding, end - start, `gradient slice ${i} of shard ${j}, step ${step + 1}`) };
  });
  // The same arithmetic as averageGradients: float64 in shard order, rounded once to float32.
  const total = parts.reduce((a, p) => a + p.n, 0);
  const weights = parts.map((p) => p.n / total);
  const out = new Float32Array(end - start);
  if (parts.length === 1) out.set(parts[0]!.g);
  else {
    for (let e = 0; e < out.length; e++) {
      let acc = 0;
      for (let k = 0; k < parts.length; k++) acc += weights[k]! * parts[k]!.g[e]!;
      out[e] = acc;
    }
  }
  const bytes = encodeReduced(out, o.encoding);
  // SET NX, not a script: a script's arguments are copied again inside Redis (about twice the
  // cost for a slice of a megabyte). The ready list is pushed either way (waiters only peek).
  const ready = keys.reducedReady(step, i);
  const stored = await redis.multi().set(keys.reduced(step, i), bytes, "EX", o.ttlSeconds, "NX").rpush(ready, "1").expire(ready, o.ttlSeconds).exec();
  r.reduceMs += performance.now() - t0;
  r.slicesReduced++;
  if (stored?.[0]?.[1] === "OK") {
    r.bytesWritten += bytes.length;
    return bytes;
  }
  return (await redis.getBuffer(keys.reduced(step, i))) ?? bytes;
}
