// The Parquet source against files written by hyparquet-writer: the same rows as the CSV of the
// same table, every numeric type, row groups crossed by --limit, shards that read back the rows
// split by their ids, and bad files as errors that name the column or row.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer, type ColumnSource } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";
import { HEADER_BYTES } from "../format";
import { ShardSet } from "../reader";
import { isHeldOut } from "../split";
import { FsStore } from "../store/fs";
import { writeShards } from "../writer";
import { openRowSource, type RowSource } from ".";

const tmp = mkdtempSync(join(tmpdir(), "meridian-parquet-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ROWS = 50;
const LABELS = ["setosa", "versicolor", "virginica"];
const table = {
  petals: Int32Array.from({ length: ROWS }, (_, i) => (i * 7) % 11),
  count: BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i * 1000 - 20_000)),
  width: Float32Array.from({ length: ROWS }, (_, i) => i / 8 - 1.5),
  length: Float64Array.from({ length: ROWS }, (_, i) => Math.sin(i) * 3),
  label: Array.from({ length: ROWS }, (_, i) => LABELS[(i * 5) % 3]!),
};

function write(name: string, columns: ColumnSource[], o: { rowGroupSize?: number; codec?: "SNAPPY" | "UNCOMPRESSED" } = {}): string {
  const path = join(tmp, name);
  writeFileSync(path, new Uint8Array(parquetWriteBuffer({ columnData: columns, ...o })));
  return path;
}

const columns = (): ColumnSource[] => [
  { name: "petals", data: table.petals, type: "INT32" },
  { name: "count", data: table.count, type: "INT64" },
  { name: "width", data: table.width, type: "FLOAT" },
  { name: "length", data: table.length, type: "DOUBLE" },
  { name: "Label", data: table.label, type: "STRING" },
];

async function collect(source: RowSource): Promise<{ id: string; label: number; x: number[] }[]> {
  const out = [];
  for await (const r of source.rows()) {
    const x = new Float32Array(source.features);
    r.write(x, 0);
    out.push({ id: r.id, label: r.label, x: [...x] });
  }
  return out;
}

describe("parquet:<path>", () => {
  it("reads every numeric type across row groups, snappy or not, as the CSV of the same table", async () => {
    const csv = join(tmp, "table.csv");
    const line = (i: number) => [table.petals[i], table.count[i], table.width[i], table.length[i], table.label[i]].join(",");
    writeFileSync(csv, ["petals,count,width,length,label", ...Array.from({ length: ROWS }, (_, i) => line(i))].join("\n") + "\n");
    const fromCsv = await openRowSource(`csv:${csv}`, { splitSeed: 1 });
    const want = await collect(fromCsv);
    for (const o of [{ rowGroupSize: 16 }, { rowGroupSize: 64, codec: "UNCOMPRESSED" as const }]) {
      const path = write(`table-${o.rowGroupSize}.parquet`, columns(), o);
      const source = await openRowSource(`parquet:${path}`, { splitSeed: 1 });
      expect(source.features).toBe(4);
      expect(source.labels).toEqual(fromCsv.labels);
      expect(source.description).toBe(`Parquet ${path} (50 rows, 4 features: petals, count, width, length; ${o.rowGroupSize === 16 ? 4 : 1} row groups)`);
      const got = await collect(source);
      expect(got.map(({ label, x }) => ({ label, x }))).toEqual(want.map(({ label, x }) => ({ label, x })));
      // Content-addressed ids: the row's values, label first.
      expect(got[3]!.id).toBe(`${table.label[3]},${table.petals[3]},${table.count[3]},${table.width[3]},${table.length[3]}`);
      expect(new Set(got.map((r) => r.id)).size).toBe(ROWS);
    }
  });

  it("--limit keeps the first rows, across a row-group boundary", async () => {
    const path = write("limit.parquet", columns(), { rowGroupSize: 16 });
    const all = await collect(await openRowSource(`parquet:${path}`, { splitSeed: 1 }));
    const some = await openRowSource(`parquet:${path}`, { splitSeed: 1, limit: 20 });
    expect(some.limit).toBe(20);
    expect(await collect(some)).toEqual(all.slice(0, 20));
  });

  it("writes shards that read back every row on the side its id hashes to", async () => {
    const path = write("shards.parquet", columns(), { rowGroupSize: 16 });
    const source = await openRowSource(`parquet:${path}`, { splitSeed: 3 });
    const rows = await collect(source);
    const store = new FsStore(join(tmp, "shards"));
    await store.prepare();
    const manifest = await writeShards(source, store, { shardBytes: HEADER_BYTES + 7 * 4 * 5, splitSeed: 3, testFraction: 0.3 });
    expect(manifest.source).toMatchObject({ spec: `parquet:${path}` });
    const set = await ShardSet.open(store);
    const key = (x: ArrayLike<number>, y: number) => `${y}:${Array.from(x).join(",")}`;
    for (const split of ["train", "test"] as const) {
      const back: string[] = [];
      for await (const r of set.rows(split)) back.push(key(r.x, r.y));
      const expected = rows.filter((r) => isHeldOut(r.id, 3, 0.3) === (split === "test")).map((r) => key(r.x, r.label));
      expect(back, split).toEqual(expected);
      expect(back.length, split).toBeGreaterThan(0);
    }
  });

  it("bad files: errors that name the file and the column or row", async () => {
    const open = (path: string) => openRowSource(`parquet:${path}`, { splitSeed: 1 });
    const [petals, count, , , label] = columns() as [ColumnSource, ColumnSource, ColumnSource, ColumnSource, ColumnSource];
    const noLabel = write("no-label.parquet", [petals, count]);
    await expect(open(noLabel)).rejects.toThrow(`${noLabel}: expected exactly one "label" column (any case), found none`);
    const twoLabels = write("two-labels.parquet", [petals, label, { ...label, name: "label" }]);
    await expect(open(twoLabels)).rejects.toThrow(`${twoLabels}: expected exactly one "label" column (any case), found "Label", "label"`);
    const text = write("text.parquet", [petals, { name: "colour", data: table.label, type: "STRING" }, label]);
    await expect(open(text)).rejects.toThrow(`${text}: column "colour" has type BYTE_ARRAY; every column but "label" must be INT32, INT64, FLOAT or DOUBLE`);
    const nullFeature = write("null-feature.parquet", [{ name: "petals", data: [1, 2, null, 4], type: "INT32", nullable: true }, { name: "label", data: ["a", "b", "a", "b"], type: "STRING" }]);
    await expect(open(nullFeature)).rejects.toThrow(`${nullFeature}: row 3: column "petals" is null; features must be finite numbers`);
    const nullLabel = write("null-label.parquet", [{ name: "petals", data: [1, 2, 3], type: "INT32" }, { name: "label", data: ["a", null, "b"], type: "STRING", nullable: true }]);
    await expect(open(nullLabel)).rejects.toThrow(`${nullLabel}: row 2: column "label" is null; every row needs a label`);
    const nan = write("nan.parquet", [{ name: "x", data: Float64Array.from([1, Number.NaN]), type: "DOUBLE" }, { name: "label", data: ["a", "b"], type: "STRING" }]);
    await expect(open(nan)).rejects.toThrow(`${nan}: row 2: column "x" is NaN; features must be finite numbers`);
    const oneClass = write("one-class.parquet", [petals, { name: "label", data: table.label.map(() => "a"), type: "STRING" }]);
    await expect(open(oneClass)).rejects.toThrow(`${oneClass}: needs at least 2 distinct labels (found 1: a)`);
    const notParquet = join(tmp, "not.parquet");
    writeFileSync(notParquet, "petals,label\n1,a\n");
    await expect(open(notParquet)).rejects.toThrow(`${notParquet}: not a readable Parquet file`);
    await expect(open(join(tmp, "missing.parquet"))).rejects.toThrow(`dataset file not found: ${join(tmp, "missing.parquet")}`);
  });
});
