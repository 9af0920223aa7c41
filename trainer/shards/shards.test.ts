// Shard sets end to end: sources written through the streaming writer into a directory and into
// S3 (s3rver), read back from the directory, over HTTP range reads (a node:http server serving
// that directory) and from S3 — every path must give exactly the rows the in-memory loader gives,
// split by the row-id hash alone (the same rows on each side for two different shard sizes).
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashedBow } from "../../shared/featurize";
import { loadDataset, type Dataset } from "../data";
import { loadSpamCorpus } from "../data/spam";
import { seededPermutation } from "../data/split";
import { classOrder, readCsv } from "../data/tabular";
import { HEADER_BYTES, MANIFEST_KEY, parseShardManifest, shardLayout, type ShardManifest, type SplitName } from "./format";
import { ShardSet } from "./reader";
import { openRowSource, type RowSource } from "./sources";
import { isHeldOut } from "./split";
import { openSource, openStore, type ShardSource, type ShardStore } from "./store";
import { FsStore } from "./store/fs";
import { HttpSource } from "./store/http";
import { S3Store, parseS3Url } from "./store/s3";
import { S3RVER_CREDENTIALS, serveDirectory, startS3rver, type Running } from "./test-servers";
import { writeShards } from "./writer";

const SEED = 5;
const FRACTION = 0.25;
const BUCKET = "meridian-shards";

let tmp: string;
let http: Running;
let s3: Running;
const clients: S3Store[] = [];
/** A store on the test's s3rver; its client is closed after the tests (so s3rver can close at once). */
function s3Store(prefix: string): S3Store {
  const store = new S3Store(`s3://${BUCKET}/${prefix}`, { endpoint: s3.url, region: "auto", credentials: S3RVER_CREDENTIALS });
  clients.push(store);
  return store;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "meridian-shards-"));
  [http, s3] = await Promise.all([serveDirectory(tmp), startS3rver([BUCKET])]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled([http?.stop(), s3?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

/** A row as comparable text: label and the exact float32 bytes. */
const rowKey = (x: Float32Array, y: number): string => `${y}:${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64")}`;

type Rows = { train: string[]; test: string[] };

async function readBack(source: ShardSource): Promise<Rows & { set: ShardSet }> {
  const set = await ShardSet.open(source);
  const out: Rows = { train: [], test: [] };
  for (const split of ["train", "test"] as const) for await (const r of set.rows(split)) out[split].push(rowKey(r.x, r.y));
  return { set, ...out };
}

function datasetRows(d: Dataset): string[] {
  const keys: string[] = [];
  for (const s of [d.train, d.test]) for (let r = 0; r < s.rows; r++) keys.push(rowKey(s.x.subarray(r * d.features, (r + 1) * d.features), s.y[r]!));
  return keys.sort();
}

/** Rows in source order with their ids → the sides the hash rule puts them on. */
function bySide(rows: { id: string; key: string }[]): Rows {
  return {
    train: rows.filter((r) => !isHeldOut(r.id, SEED, FRACTION)).map((r) => r.key),
    test: rows.filter((r) => isHeldOut(r.id, SEED, FRACTION)).map((r) => r.key),
  };
}

// ---------- sources ----------

const SPAM_LIMIT = 150;
const SPAM_DIMS = 256;

/** The spam rows the writer should hold, computed here from the corpus and the stated rules. */
function expectedSpam(): Rows {
  const emails = loadSpamCorpus();
  const kept = seededPermutation(emails.length, SEED).slice(0, SPAM_LIMIT).sort();
  const f = hashedBow({ dimensions: SPAM_DIMS });
  return bySide(Array.from(kept, (i) => emails[i]!).map((e) => ({ id: `${e.group}/${e.id}`, key: rowKey(f(e.text), e.group.startsWith("spam") ? 1 : 0) })));
}

/** A CSV with the awkward parts: BOM, CRLF, blank lines, quoted fields, exponents, a duplicate row. */
function csvText(): string {
  const lines = ["\uFEFFx1,\"Label\",x2,x3"];
  for (let i = 0; i < 57; i++) {
    const label = ["cat", "dog", "eel"][(i * 7) % 3]!;
    lines.push(`${(i * 0.37).toFixed(3)},${i % 5 === 0 ? `"${label}"` : label},${-i}e-2,"${i % 11}"`);
    if (i % 13 === 0) lines.push("");
  }
  lines.push(lines[5]!); // a duplicate: the same id, so the same side
  return lines.join("\r\n") + "\r\n";
}

function expectedCsv(path: string, text: string): Rows {
  const parsed = readCsv(path);
  const index = new Map(classOrder(parsed.labels).map((c, i) => [c, i]));
  const ids = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.trim() !== "").slice(1);
  const F = parsed.features;
  return bySide(ids.map((id, r) => ({ id, key: rowKey(parsed.x.subarray(r * F, (r + 1) * F), index.get(parsed.labels[r]!)!) })));
}

function jsonlText(): string {
  const words = ["free", "money", "meeting", "tomorrow", "click", "now", "lunch", "report", "$", "!"];
  return Array.from({ length: 45 }, (_, i) => {
    const text = Array.from({ length: 3 + (i % 6) }, (_, j) => words[(i * 3 + j * 7) % words.length]).join(" ");
    return JSON.stringify({ label: i % 3 === 0 ? "spam" : "ham", text });
  }).join("\n");
}

function expectedJsonl(text: string, dims: number): Rows {
  const f = hashedBow({ dimensions: dims });
  const lines = text.split("\n");
  const labels = classOrder(lines.map((l) => (JSON.parse(l) as { label: string }).label));
  return bySide(lines.map((id) => {
    const rec = JSON.parse(id) as { label: string; text: string };
    return { id, key: rowKey(f(rec.text), labels.indexOf(rec.label)) };
  }));
}

// ---------- the round trip ----------

type Case = { name: string; source: () => Promise<RowSource>; inMemory: () => Dataset; expected: () => Rows };

async function cases(): Promise<Case[]> {
  const csvPath = join(tmp, "pets.csv");
  const csv = csvText();
  await writeFile(csvPath, csv);
  const jsonlPath = join(tmp, "mail.jsonl");
  const jsonl = jsonlText();
  await writeFile(jsonlPath, jsonl);
  const base = { splitSeed: SEED, testFraction: FRACTION };
  return [
    {
      name: "spam",
      source: () => openRowSource("spam", { splitSeed: SEED, limit: SPAM_LIMIT, featurizerParams: { dimensions: SPAM_DIMS } }),
      inMemory: () => loadDataset("spam", { ...base, limit: SPAM_LIMIT, featurizerParams: { dimensions: SPAM_DIMS } }),
      expected: expectedSpam,
    },
    {
      name: "csv",
      source: () => openRowSource(`csv:${csvPath}`, { splitSeed: SEED }),
      inMemory: () => loadDataset(`csv:${csvPath}`, base),
      expected: () => expectedCsv(csvPath, csv),
    },
    {
      name: "jsonl",
      source: () => openRowSource(`jsonl:${jsonlPath}`, { splitSeed: SEED, featurizerParams: { dimensions: 64 } }),
      inMemory: () => loadDataset(`jsonl:${jsonlPath}`, { ...base, featurizerParams: { dimensions: 64 } }),
      expected: () => expectedJsonl(jsonl, 64),
    },
  ];
}

const withoutTime = (m: ShardManifest) => ({ ...m, createdAt: "" });

describe("shard sets through every store", () => {
  it("spam, CSV and JSONL: directory, HTTP and S3 give back the in-memory loader's rows, split by row id whatever the shard size", async () => {
    for (const c of await cases()) {
      const source = await c.source();
      const expected = c.expected();
      expect(expected.train.length, c.name).toBeGreaterThan(0);
      expect(expected.test.length, c.name).toBeGreaterThan(0);
      // The same rows as `train --dataset` loads (its own split differs: a shuffle).
      expect([...expected.train, ...expected.test].sort(), c.name).toEqual(datasetRows(c.inMemory()));

      const manifests: ShardManifest[] = [];
      for (const rowsPerShard of [4, 13]) {
        // A size that is not a whole number of rows: the remainder stays unused.
        const shardBytes = HEADER_BYTES + rowsPerShard * 4 * (source.features + 1) + 3;
        const prefix = `${c.name}-${rowsPerShard}`;
        const opts = { shardBytes, splitSeed: SEED, testFraction: FRACTION };
        const fs = new FsStore(join(tmp, prefix));
        await fs.prepare();
        const written = await writeShards(source, fs, opts);
        const s3w = s3Store(prefix);
        await s3w.prepare();
        const viaS3 = await writeShards(source, s3w, opts);
        s3w.close();
        expect(withoutTime(viaS3), `${prefix}: the same bytes in S3 as on disk`).toEqual(withoutTime(written));
        expect(written.layout.rowsPerShard).toBe(rowsPerShard);
        expect(written.shards.every((s) => s.bytes <= shardBytes)).toBe(true);
        expect(written.shards.filter((s) => s.split === "train").length).toBe(Math.ceil(expected.train.length / rowsPerShard));
        manifests.push(written);

        const readers: [string, ShardSource][] = [
          ["fs", new FsStore(join(tmp, prefix))],
          ["http", new HttpSource(`${http.url}/${prefix}`)],
          ["s3", s3Store(prefix)],
        ];
        for (const [kind, reader] of readers) {
          const back = await readBack(reader);
          reader.close();
          expect(back.train, `${prefix} via ${kind}: train`).toEqual(expected.train);
          expect(back.test, `${prefix} via ${kind}: test`).toEqual(expected.test);
          expect(back.set.manifest.schema.features).toBe(source.features);
        }
      }
      expect(manifests[0]!.rows).toEqual(manifests[1]!.rows);
      expect(manifests[0]!.shards.length).toBeGreaterThan(manifests[1]!.shards.length);
    }
  });

  it("the manifest records schema, featurizer, split rule, offsets and checksums", async () => {
    const m = parseShardManifest(await readFile(join(tmp, "spam-4", MANIFEST_KEY)), "spam-4");
    expect(m.format).toBe("meridian-shards");
    expect(m.schema).toMatchObject({ features: SPAM_DIMS, x: "float32", y: "int32", labels: ["ham", "spam"], positive: 1 });
    expect(m.schema.featurizer).toEqual({ id: "hashed-bow-v1", params: expect.objectContaining({ dimensions: SPAM_DIMS, ngram: 1 }) });
    expect(m.split).toMatchObject({ seed: SEED, testFraction: FRACTION });
    expect(m.source).toMatchObject({ spec: "spam", limit: SPAM_LIMIT });
    expect(m.rows.total).toBe(SPAM_LIMIT);
    const s = m.shards[1]!;
    expect(s).toMatchObject({ key: "train/00001.bin", split: "train", index: 1, rows: 4, firstRow: 4, xOffset: HEADER_BYTES, yOffset: HEADER_BYTES + 4 * SPAM_DIMS * 4 });
    expect(s.bytes).toBe(s.yOffset + 16);
    const csv = parseShardManifest(await readFile(join(tmp, "csv-4", MANIFEST_KEY)), "csv-4");
    expect(csv.schema).toMatchObject({ features: 3, labels: ["cat", "dog", "eel"], featurizer: null });
    expect(csv.name).toBe("pets");
  });

  it("byte-range reads return the same rows as whole shards, across shard boundaries, on every store", async () => {
    const sources: ShardSource[] = [new FsStore(join(tmp, "csv-4")), new HttpSource(`${http.url}/csv-4/`), s3Store("csv-4")];
    for (const source of sources) {
      const set = await ShardSet.open(source);
      const all: string[] = [];
      for await (const r of set.rows("train")) all.push(rowKey(r.x, r.y));
      const F = set.features;
      for (const [start, count] of [[0, 1], [3, 2], [2, 11], [0, all.length]] as const) {
        const b = await set.readRows("train", start, count);
        const got = Array.from({ length: b.rows }, (_, r) => rowKey(b.x.subarray(r * F, (r + 1) * F), b.y[r]!));
        expect(got, `${source.location} rows ${start}+${count}`).toEqual(all.slice(start, start + count));
      }
      await expect(set.readRows("train", all.length - 1, 2)).rejects.toThrow(/outside the train split/);
      source.close();
    }
  });

  it("a corrupt or truncated shard is an error naming the shard, on every store", async () => {
    const dir = join(tmp, "corrupt");
    await cp(join(tmp, "csv-4"), dir, { recursive: true });
    const shard = join(dir, "train", "00001.bin");
    const bytes = await readFile(shard);
    bytes[HEADER_BYTES + 5] = bytes[HEADER_BYTES + 5]! ^ 0x40;
    await writeFile(shard, bytes);
    await writeFile(join(dir, "test", "00000.bin"), (await readFile(join(dir, "test", "00000.bin"))).subarray(0, 40));
    const s3c = s3Store("csv-4-corrupt");
    for (const key of await s3Store("csv-4").list()) await s3c.put(key, await readFile(join(dir, ...key.split("/"))));

    for (const source of [new FsStore(dir), new HttpSource(`${http.url}/corrupt`), s3c] as ShardSource[]) {
      const set = await ShardSet.open(source);
      const drain = async (split: SplitName) => {
        for await (const _ of set.rows(split));
      };
      await expect(drain("train")).rejects.toThrow(/^shard train\/00001\.bin of .* is corrupt: sha256 [0-9a-f]{64} does not match the manifest's [0-9a-f]{64}$/);
      await expect(drain("test")).rejects.toThrow(/^shard test\/00000\.bin of .* is corrupt: 40 B, the manifest says \d+ B$/);
      source.close();
    }
  });

  it("stores: listing, missing objects, missing sets, and HTTP servers that ignore Range", async () => {
    const s3r = s3Store("csv-4");
    const listed = await s3r.list();
    expect(listed).toContain(MANIFEST_KEY);
    expect(listed).toContain("train/00000.bin");
    expect(await new FsStore(join(tmp, "csv-4")).list()).toEqual(listed);
    await expect(s3r.get("train/99999.bin")).rejects.toThrow(`not found: s3://${BUCKET}/csv-4/train/99999.bin`);
    s3r.close();

    await expect(ShardSet.open(new FsStore(join(tmp, "nothing-here")))).rejects.toThrow(/^no shard set at .*nothing-here: manifest\.json not found$/);
    await expect(ShardSet.open(new HttpSource(`${http.url}/nothing-here/`))).rejects.toThrow(/^no shard set at http:\/\/.*\/nothing-here\/: manifest\.json not found$/);
    await expect(ShardSet.open(s3Store("nothing-here"))).rejects.toThrow(`no shard set at s3://${BUCKET}/nothing-here/: manifest.json not found`);

    const noRange = new HttpSource(`${http.url}/no-range/csv-4`);
    expect((await noRange.get(MANIFEST_KEY)).length).toBeGreaterThan(0);
    await expect(noRange.getRange("train/00000.bin", 32, 16)).rejects.toThrow(/ignored the Range header \(HTTP 200, not 206\)/);
    await expect(new HttpSource(`${http.url}/csv-4`).getRange("train/00000.bin", 1_000_000, 4)).rejects.toThrow(/past the end \(HTTP 416\)/);
    await expect(new FsStore(join(tmp, "csv-4")).getRange("train/00000.bin", 90, 50)).rejects.toThrow(/runs past the end/);
    await expect(new FsStore(tmp).get("../etc/passwd")).rejects.toThrow(/bad shard key/);

    const missingBucket = new S3Store("s3://no-such-bucket/x", { endpoint: s3.url, credentials: S3RVER_CREDENTIALS });
    clients.push(missingBucket);
    await expect(missingBucket.prepare()).rejects.toThrow(`cannot write to s3://no-such-bucket/x/: bucket "no-such-bucket" not found at ${s3.url}`);
  });

  it("discard takes back what a failed write put, and the directories made for it, but nothing else", async () => {
    const body = new Uint8Array([1, 2, 3]);
    // A directory prepare() made (with a parent): gone. One that was there: stays, with what it held.
    const made = new FsStore(join(tmp, "discard-new", "a", "set"));
    await made.prepare();
    await made.put("train/00000.bin", body);
    await made.put("test/00000.bin", body);
    await made.discard(["train/00000.bin", "test/00000.bin"]);
    expect(existsSync(join(tmp, "discard-new"))).toBe(false);
    const there = join(tmp, "discard-old");
    await mkdir(there);
    await writeFile(join(there, "keep.txt"), "x");
    const old = new FsStore(there);
    await old.prepare();
    await old.put("train/00000.bin", body);
    await old.discard(["train/00000.bin"]);
    expect(await old.list()).toEqual(["keep.txt"]);
    // A pass that failed before any shard: the directory it made goes too.
    const empty = new FsStore(join(tmp, "discard-empty"));
    await empty.prepare();
    await empty.discard([]);
    expect(existsSync(join(tmp, "discard-empty"))).toBe(false);

    const s3d = s3Store("discard");
    await s3d.put("train/00000.bin", body);
    await s3d.put("train/00001.bin", body);
    await s3d.discard(["train/00000.bin"]);
    expect(await s3d.list()).toEqual(["train/00001.bin"]);
  });

  it("locations: directories and s3:// are writable, http(s) is read-only, anything else is refused", async () => {
    expect(parseS3Url("s3://bucket")).toEqual({ bucket: "bucket", prefix: "" });
    expect(parseS3Url("s3://my.bucket/a/b/")).toEqual({ bucket: "my.bucket", prefix: "a/b/" });
    expect(() => parseS3Url("s3://Bad_Bucket/x")).toThrow(/bucket "Bad_Bucket" is not 3-63 lowercase/);
    expect(() => parseS3Url("s3://")).toThrow(/bucket "" is not/);
    expect(() => parseS3Url("s3://bucket/a/../b")).toThrow(/"\." or "\.\." in the prefix/);
    expect(() => parseS3Url("s3://bucket/x?versionId=1")).toThrow(/expected s3:\/\/<bucket>\[\/<prefix>\]/);
    await expect(openStore("https://cdn.example/set")).rejects.toThrow(/http\(s\) locations are read-only/);
    await expect(openStore("gs://bucket/x")).rejects.toThrow(/unsupported location "gs:\/\/bucket\/x"/);
    expect(await openSource("https://cdn.example/set")).toBeInstanceOf(HttpSource);
    const store: ShardStore = await openStore(join(tmp, "plain"));
    expect(store).toBeInstanceOf(FsStore);
    await writeFile(join(tmp, "a-file"), "x");
    await expect(new FsStore(join(tmp, "a-file", "sub")).prepare()).rejects.toThrow(/^cannot write to .*a-file\/sub: not a directory/);
    expect(() => shardLayout(4096, 1000)).toThrow(/shard size 1000 B is too small for one row: 4096 features need 16420 B/);
  });
});
