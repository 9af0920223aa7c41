// Checkpoints: weights + optimizer state + step, as one binary blob, kept on disk or in Redis.
//   "MRDNCKP1" | u32 header length | header JSON (UTF-8) | zero padding to 4 bytes |
//   params f32[paramCount] | m f32[k] | v f32[k]        (little-endian; k = 0 for sgd)
import { mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Redis } from "ioredis";
import type { GradientEncoding } from "./gradient-encoding";
import type { OptimizerState } from "./optimizer";

export type Checkpoint = {
  runId: string;
  /** Steps completed (the next step to run). */
  step: number;
  params: Float32Array;
  opt: OptimizerState;
  savedAt: string;
  /** The gradient encoding of the run (absent in checkpoints from before it: fp32). */
  gradients?: GradientEncoding;
};

export interface CheckpointStore {
  load(runId: string): Promise<Checkpoint | null>;
  save(c: Checkpoint): Promise<void>;
  clear(runId: string): Promise<void>;
  /** Where checkpoints go, for logs. */
  readonly where: string;
}

const MAGIC = "MRDNCKP1";

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new Error("meridian's binary formats assume a little-endian host");
}

/** A Float32Array's bytes (no copy). */
export function f32Bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Bytes → a Float32Array view of them when aligned (no copy: the caller must not reuse `b`), else a copy. */
export function viewF32(b: Uint8Array): Float32Array {
  return b.byteOffset % 4 === 0 && b.byteLength % 4 === 0 ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : bytesF32(b);
}

/** Bytes → Float32Array (copies when unaligned). */
export function bytesF32(b: Uint8Array, offset = 0, count?: number): Float32Array {
  const n = count ?? (b.byteLength - offset) / 4;
  if (!Number.isInteger(n) || offset + n * 4 > b.byteLength) throw new Error(`bad float32 payload (${b.byteLength} bytes)`);
  const start = b.byteOffset + offset;
  if (start % 4 === 0) return new Float32Array(b.buffer.slice(start, start + n * 4));
  return new Float32Array(Uint8Array.prototype.slice.call(b, offset, offset + n * 4).buffer);
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      runId: c.runId,
      step: c.step,
      t: c.opt.t,
      params: c.params.length,
      moments: c.opt.m.length,
      savedAt: c.savedAt,
      ...(c.gradients ? { gradients: c.gradients } : {}),
    }),
  );
  const headEnd = 12 + header.length;
  const pad = (4 - (headEnd % 4)) % 4;
  const len = headEnd + pad + 4 * (c.params.length + 2 * c.opt.m.length);
  const out = Buffer.alloc(len);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 12);
  let o = headEnd + pad;
  for (const a of [c.params, c.opt.m, c.opt.v]) {
    f32Bytes(a).copy(out, o);
    o += a.byteLength;
  }
  return out;
}

export function decodeCheckpoint(b: Buffer): Checkpoint {
  if (b.length < 12 || b.toString("latin1", 0, 8) !== MAGIC) throw new Error("not a meridian checkpoint");
  const hl = b.readUInt32LE(8);
  const h = JSON.parse(b.toString("utf8", 12, 12 + hl)) as {
    runId: string;
    step: number;
    t: number;
    params: number;
    moments: number;
    savedAt: string;
    gradients?: GradientEncoding;
  };
  let o = 12 + hl + ((4 - ((12 + hl) % 4)) % 4);
  const take = (n: number): Float32Array => {
    const a = bytesF32(b, o, n);
    o += n * 4;
    return a;
  };
  const params = take(h.params);
  const m = take(h.moments);
  const v = take(h.moments);
  return { runId: h.runId, step: h.step, params, opt: { t: h.t, m, v }, savedAt: h.savedAt, ...(h.gradients ? { gradients: h.gradients } : {}) };
}

/**
 * A cluster coordinator's fencing for checkpoints on disk, which has no compare-and-set: its
 * epoch names each file it writes, and check() throws once another coordinator took the run.
 */
export interface FileFence {
  epoch(): number;
  check(): Promise<void>;
}

/**
 * Checkpoints as files: `<run>.ckpt` in-process; `<run>.e<epoch>.ckpt` under a fence, and load
 * takes the highest epoch's, so a coordinator paused past its lease that writes after all (between
 * its check and the rename) cannot replace what the run's current coordinator saved.
 */
export class FileCheckpointStore implements CheckpointStore {
  constructor(
    readonly dir: string,
    private readonly fence?: FileFence,
  ) {}
  get where(): string {
    return this.dir;
  }
  private file(runId: string, epoch: number): string {
    return join(this.dir, epoch > 0 ? `${runId}.e${epoch}.ckpt` : `${runId}.ckpt`);
  }
  /** The run's checkpoint files with their epochs (0: unfenced), highest epoch first. */
  private async files(runId: string): Promise<{ path: string; epoch: number }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return [];
      throw err;
    }
    const out: { path: string; epoch: number }[] = [];
    for (const n of names) {
      if (n === `${runId}.ckpt`) out.push({ path: join(this.dir, n), epoch: 0 });
      const m = /^(.+)\.e(\d+)\.ckpt$/.exec(n);
      if (m && m[1] === runId) out.push({ path: join(this.dir, n), epoch: Number(m[2]) });
    }
    return out.sort((a, b) => b.epoch - a.epoch);
  }
  async load(runId: string): Promise<Checkpoint | null> {
    const [newest] = await this.files(runId);
    return newest ? decodeCheckpoint(await readFile(newest.path)) : null;
  }
  async save(c: Checkpoint): Promise<void> {
    await this.fence?.check();
    const epoch = this.fence?.epoch() ?? 0;
    await mkdir(this.dir, { recursive: true });
    const path = this.file(c.runId, epoch);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, encodeCheckpoint(c));
    await rename(tmp, path); // atomic: a crash leaves the old or the new one
    // Older epochs' files are superseded (a newer epoch's is never touched).
    for (const f of await this.files(c.runId)) if (f.epoch < epoch) await rm(f.path, { force: true });
  }
  async clear(runId: string): Promise<void> {
    await this.fence?.check();
    for (const f of await this.files(runId)) await rm(f.path, { force: true });
    await rmdir(this.dir).catch(() => {}); // only if now empty
  }
}

/**
 * Writes that only land while the writer still holds the run's lease (a cluster coordinator's
 * fencing epoch, cluster/coordinator.ts); they throw when the epoch has moved on.
 */
export interface FencedWrites {
  set(key: string, value: Buffer, ttlSeconds: number): Promise<void>;
  del(key: string): Promise<void>;
}

export class RedisCheckpointStore implements CheckpointStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = 7 * 24 * 3600,
    /** Saves and clears through these (a coordinator's fenced writes) instead of plain SET/DEL. */
    private readonly fenced?: FencedWrites,
  ) {}
  get where(): string {
    return `redis key ${this.prefix}:ckpt:<run>`;
  }
  private key(runId: string): string {
    return `${this.prefix}:ckpt:${runId}`;
  }
  async load(runId: string): Promise<Checkpoint | null> {
    const b = await this.redis.getBuffer(this.key(runId));
    return b ? decodeCheckpoint(b) : null;
  }
  async save(c: Checkpoint): Promise<void> {
    if (this.fenced) await this.fenced.set(this.key(c.runId), encodeCheckpoint(c), this.ttlSeconds);
    else await this.redis.set(this.key(c.runId), encodeCheckpoint(c), "EX", this.ttlSeconds);
  }
  async clear(runId: string): Promise<void> {
    if (this.fenced) await this.fenced.del(this.key(runId));
    else await this.redis.del(this.key(runId));
  }
}
