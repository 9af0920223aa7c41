// mnist-augmented:<copies>: real digits, deterministic copies (rotated and shifted), streamed;
// every copy of an image on the image's side of the split; honest about itself in the manifest.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadMnistPart } from "../../data/mnist";
import { ShardSet } from "../reader";
import { isHeldOut } from "../split";
import { FsStore } from "../store/fs";
import { writeShards } from "../writer";
import { copyTransform, transformDigit } from "./augmented";
import { openRowSource, parseSourceSpec } from "./index";

const PIXELS = 784;

async function firstRows(spec: string, n: number, limit?: number) {
  const src = await openRowSource(spec, { splitSeed: 1, testFraction: 0.2, ...(limit !== undefined ? { limit } : {}) });
  const rows: { id: string; label: number; x: Float32Array }[] = [];
  for await (const r of src.rows()) {
    const x = new Float32Array(PIXELS);
    r.write(x, 0);
    rows.push({ id: r.id, label: r.label, x });
    if (rows.length === n) break;
  }
  return { src, rows };
}

describe("mnist-augmented:<copies>", () => {
  it("transformDigit: no rotation or shift is the identity; a whole-pixel shift moves every pixel", () => {
    const src = Float32Array.from({ length: PIXELS }, (_, i) => (i % 29) / 29);
    const same = new Float32Array(PIXELS);
    transformDigit(src, same, 0, 0, 0, 0);
    for (let i = 0; i < PIXELS; i++) expect(same[i]).toBeCloseTo(src[i]!, 6);
    const shifted = new Float32Array(PIXELS + 5);
    transformDigit(src, shifted, 5, 0, 2, -1); // right by 2, up by 1
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const sx = x - 2;
        const sy = y + 1;
        const want = sx >= 0 && sy < 28 ? src[sy * 28 + sx]! : 0;
        expect(shifted[5 + y * 28 + x]).toBeCloseTo(want, 5);
      }
    }
  });

  it("copy 0 is the digit itself, the others are seeded transforms of it; the same on every open", async () => {
    const N = 1000; // --limit: a seeded subset of the 70,000 images
    const { src, rows } = await firstRows("mnist-augmented:3", N + 3, N);
    expect(src.features).toBe(PIXELS);
    expect(src.labels).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    // The first N rows are copy 0 of every image (in a seeded order): the digits themselves.
    const byId = new Map<string, { label: number; x: Float32Array }>();
    for (const r of rows.slice(0, N)) byId.set(r.id, r);
    expect(byId.size).toBe(N);
    let checked = 0;
    for (const [id, d] of [...byId].slice(0, 20)) {
      const [part, i] = id.split("/") as ["train" | "test", string];
      const p = loadMnistPart(part);
      expect(d.label).toBe(p.y[Number(i)]);
      expect(Buffer.from(d.x.buffer).equals(Buffer.from(p.x.slice(Number(i) * PIXELS, (Number(i) + 1) * PIXELS).buffer))).toBe(true);
      checked++;
    }
    expect(checked).toBe(20);
    // Copy 1 of the first image: the same id and label as its copy 0, other pixels, same ink roughly.
    const c0 = rows[0]!;
    const c1 = rows[N]!;
    expect(c1.id).toBe(c0.id);
    expect(c1.label).toBe(c0.label);
    expect(Buffer.from(c1.x.buffer).equals(Buffer.from(c0.x.buffer))).toBe(false);
    const ink = (x: Float32Array) => x.reduce((a, b) => a + b, 0);
    expect(ink(c1.x) / ink(c0.x)).toBeGreaterThan(0.8);
    expect(ink(c1.x) / ink(c0.x)).toBeLessThan(1.2);
    const again = await firstRows("mnist-augmented:3", N + 3, N);
    for (const i of [0, N, N + 2]) expect(Buffer.from(again.rows[i]!.x.buffer).equals(Buffer.from(rows[i]!.x.buffer))).toBe(true);
    const t = copyTransform(5, 7);
    expect(Math.abs(t.deg)).toBeLessThanOrEqual(15);
    expect(Math.max(Math.abs(t.dx), Math.abs(t.dy))).toBeLessThanOrEqual(2);
    expect(copyTransform(5, 0)).toEqual({ deg: 0, dx: 0, dy: 0 });
  });

  it("writes a shard set whose copies share their image's side and whose manifest says what it is", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meridian-augmented-"));
    try {
      const src = await openRowSource("mnist-augmented:4", { splitSeed: 1, testFraction: 0.2, limit: 50 });
      const m = await writeShards(src, new FsStore(dir), { shardBytes: 64 * 1024, splitSeed: 1, testFraction: 0.2 });
      expect(m.rows.total).toBe(200);
      expect(m.source.spec).toBe("mnist-augmented:4");
      expect(m.source.limit).toBe(50);
      expect(m.source.description).toContain("50 of 70000 images");
      expect(m.source.description).toContain("× 4 copies = 200 rows");
      expect(m.split.rowId).toContain("the same for every copy");
      // Sides are whole images: each side's row count is a multiple of the copies.
      expect(m.rows.train % 4).toBe(0);
      expect(m.rows.test % 4).toBe(0);
      const set = await ShardSet.open(new FsStore(dir));
      let heldOut = 0;
      for await (const b of set.blocks("test")) heldOut += b.rows;
      expect(heldOut).toBe(m.rows.test);
      const { rows } = await firstRows("mnist-augmented:4", 200, 50);
      expect(rows.filter((r) => isHeldOut(r.id, 1, 0.2)).length).toBe(m.rows.test);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("through a ShardCache on a directory: evicted shards' memory is read into, and every shard reads back verified and whole", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meridian-augmented-cache-"));
    try {
      const src = await openRowSource("mnist-augmented:2", { splitSeed: 1, testFraction: 0.2, limit: 100 });
      await writeShards(src, new FsStore(dir), { shardBytes: 64 * 1024, splitSeed: 1, testFraction: 0.2 });
      const store = new FsStore(dir);
      let reused = 0;
      const get = store.get.bind(store);
      store.get = (key: string, reuse?: ArrayBuffer) => {
        if (reuse) reused++;
        return get(key, reuse);
      };
      const set = await ShardSet.open(store);
      const entries = set.shards("train");
      expect(entries.length).toBeGreaterThan(4);
      const fresh = await ShardSet.open(new FsStore(dir));
      const { ShardCache } = await import("../cache");
      const cache = new ShardCache(set, entries, 2 * Math.max(...entries.map((e) => e.bytes)));
      for (let pass = 0; pass < 2; pass++) {
        for (let s = 0; s < entries.length; s++) {
          cache.prefetch([s, (s + 1) % entries.length]);
          const b = await cache.get(s);
          const want = await fresh.read(entries[s]!);
          expect(Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength).equals(Buffer.from(want.x.buffer, want.x.byteOffset, want.x.byteLength))).toBe(true);
          expect(Array.from(b.y)).toEqual(Array.from(want.y));
        }
      }
      // Full-size shards (all but the last) were read into evicted shards' memory.
      expect(reused).toBeGreaterThan(entries.length);
      expect(cache.stats.evictions).toBeGreaterThan(entries.length);
      // blocks(): each shard read into the previous one's memory (sizes permitting), contents intact.
      const before = reused;
      let i = 0;
      for await (const b of set.blocks("train")) {
        const want = await fresh.read(entries[i++]!);
        expect(Buffer.from(b.x.buffer, b.x.byteOffset, b.x.byteLength).equals(Buffer.from(want.x.buffer, want.x.byteOffset, want.x.byteLength))).toBe(true);
      }
      expect(i).toBe(entries.length);
      expect(reused - before).toBe(entries.length - 1); // offered to every read but the first (the store ignores it for the shorter last shard)
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects a copy count out of range before reading anything", () => {
    expect(() => parseSourceSpec("mnist-augmented:0")).toThrow('mnist-augmented:<copies> takes an integer from 1 to 65536 (got "0")');
    expect(() => parseSourceSpec("mnist-augmented:x")).toThrow(/unknown source "mnist-augmented:x"/);
    expect(parseSourceSpec("mnist-augmented:88")).toEqual({ kind: "mnist-augmented", copies: 88 });
  });
});
