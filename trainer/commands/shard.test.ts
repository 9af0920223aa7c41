// `meridian shard` as a user runs it (a child process): a CSV into a directory and into S3
// (s3rver, started here), and every bad input as one line on stderr with exit code 1.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShardSet } from "../shards/reader";
import { FsStore } from "../shards/store/fs";
import { S3Store } from "../shards/store/s3";
import { S3RVER_CREDENTIALS, startS3rver, type Running } from "../shards/test-servers";

type Run = { code: number | null; stdout: string; stderr: string };

function meridian(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...args], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `meridian shard … --json`, sent `signal` once it has printed the event named `at`. */
function interrupted(args: string[], at: string, signal: NodeJS.Signals): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cli/meridian.ts", ...args, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let sent = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!sent && stdout.split("\n").some((l) => l.includes(`"event":"${at}"`))) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function expectFailure(run: Run, line: string | RegExp): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr.trimEnd().split("\n"), run.stderr).toHaveLength(1);
  if (typeof line === "string") expect(run.stderr.trimEnd()).toBe(line);
  else expect(run.stderr.trimEnd()).toMatch(line);
}

const tmp = mkdtempSync(join(tmpdir(), "meridian-shard-cli-"));
const csv = join(tmp, "iris-like.csv");
let s3: Running;

beforeAll(async () => {
  s3 = await startS3rver(["cli-bucket"]);
  const rows = Array.from({ length: 40 }, (_, i) => `${i % 7},${(i * 0.5).toFixed(1)},${["a", "b"][i % 2]}`);
  writeFileSync(csv, ["f1,f2,label", ...rows].join("\n") + "\n");
});

afterAll(async () => {
  await s3?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("meridian shard", () => {
  it("writes a CSV into a directory and into S3, with the same shards", async () => {
    const dir = join(tmp, "out");
    const [local, remote] = await Promise.all([
      meridian(["shard", `csv:${csv}`, "--out", dir, "--shard-size", "128", "--json"]),
      meridian(["shard", `csv:${csv}`, "--out", "s3://cli-bucket/sets/csv", "--shard-size", "128", "--s3-endpoint", s3.url]),
    ]);
    expect(local.code, local.stderr).toBe(0);
    expect(remote.code, remote.stderr).toBe(0);
    const events = local.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string });
    expect(events[0]).toMatchObject({ event: "reading", spec: `csv:${csv}` });
    expect(events[1]).toMatchObject({ event: "source", features: 2, labels: ["a", "b"] });
    expect(events.at(-1)).toMatchObject({ event: "done", rows: { total: 40 } });
    expect(remote.stdout).toMatch(/wrote 40 rows \(\d+ train, \d+ held out\) in \d+ shards \+ manifest\.json to s3:\/\/cli-bucket\/sets\/csv\//);

    const a = await ShardSet.open(new FsStore(dir));
    const store = new S3Store("s3://cli-bucket/sets/csv", { endpoint: s3.url, credentials: S3RVER_CREDENTIALS });
    const b = await ShardSet.open(store);
    store.close();
    expect(b.manifest.shards).toEqual(a.manifest.shards);
    expect(a.manifest.layout.rowsPerShard).toBe(8); // (128 - 32) / (4 × 3)
    expect(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"))).toMatchObject({ split: { seed: 1, testFraction: 0.2 } });
  });

  it("writes a Parquet file's rows, and names a bad one", async () => {
    const file = join(tmp, "table.parquet");
    const columnData = [
      { name: "f1", data: Float64Array.from({ length: 30 }, (_, i) => i / 3) },
      { name: "label", data: Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? "x" : "y")) },
    ];
    writeFileSync(file, new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 8 })));
    const dir = join(tmp, "out-parquet");
    const ok = await meridian(["shard", `parquet:${file}`, "--out", dir]);
    expect(ok.code, ok.stderr).toBe(0);
    const set = await ShardSet.open(new FsStore(dir));
    expect(set.manifest.schema).toMatchObject({ features: 1, labels: ["x", "y"] });
    expect(set.manifest.rows.train + set.manifest.rows.test).toBe(30);

    const text = join(tmp, "text.parquet");
    writeFileSync(text, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "word", data: ["a", "b"] }, { name: "label", data: ["x", "y"] }] })));
    expectFailure(await meridian(["shard", `parquet:${text}`, "--out", join(tmp, "never-parquet")]), `meridian: shard failed: ${text}: column "word" has type BYTE_ARRAY; every column but "label" must be INT32, INT64, FLOAT or DOUBLE`);
    expect(existsSync(join(tmp, "never-parquet"))).toBe(false); // the directory it made is taken back
  });

  it("refuses a location that is not empty, leaving what is there as it was", async () => {
    const dir = join(tmp, "kept");
    const first = await meridian(["shard", `csv:${csv}`, "--out", dir, "--shard-size", "128"]);
    expect(first.code, first.stderr).toBe(0);
    const manifest = readFileSync(join(dir, "manifest.json"), "utf8");
    const stray = join(tmp, "stray");
    mkdirSync(stray);
    writeFileSync(join(stray, "notes.txt"), "mine");
    const [again, again3, strayRun] = await Promise.all([
      meridian(["shard", `csv:${csv}`, "--out", dir, "--shard-size", "256"]),
      meridian(["shard", `csv:${csv}`, "--out", "s3://cli-bucket/sets/kept", "--s3-endpoint", s3.url]).then(async (ok) => {
        expect(ok.code, ok.stderr).toBe(0);
        return meridian(["shard", `csv:${csv}`, "--out", "s3://cli-bucket/sets/kept", "--s3-endpoint", s3.url]);
      }),
      meridian(["shard", `csv:${csv}`, "--out", stray]),
    ]);
    const refusal = "is not empty (a shard set is there): write to a new directory or prefix, or remove the old one first";
    expectFailure(again!, `meridian: shard failed: ${dir} ${refusal}`);
    expectFailure(again3!, `meridian: shard failed: s3://cli-bucket/sets/kept/ ${refusal}`);
    expectFailure(strayRun!, `meridian: shard failed: ${stray} is not empty (1 file): write to a new directory or prefix, or remove the old one first`);
    expect(readFileSync(join(dir, "manifest.json"), "utf8")).toBe(manifest);
    expect((await ShardSet.open(new FsStore(dir))).manifest.layout.shardBytes).toBe(128);
    expect(readFileSync(join(stray, "notes.txt"), "utf8")).toBe("mine");
  });

  it("SIGINT while writing, SIGTERM while reading: what it wrote is taken back, and it ends as the signal would", async () => {
    const big = join(tmp, "big.csv");
    writeFileSync(big, ["f1,f2,label", ...Array.from({ length: 200_000 }, (_, i) => `${i % 97},${i % 13},${"abc"[i % 3]}`)].join("\n") + "\n");
    const writing = join(tmp, "interrupted-writing");
    const reading = join(tmp, "interrupted-reading");
    const [mid, early] = await Promise.all([
      interrupted(["shard", `csv:${big}`, "--out", writing, "--shard-size", "4KiB"], "shard", "SIGINT"),
      interrupted(["shard", `csv:${big}`, "--out", reading], "reading", "SIGTERM"),
    ]);
    expect(mid.code, mid.stderr).toBe(130);
    expect(mid.stdout).toContain('"event":"shard"');
    expect(mid.stderr.trimEnd()).toMatch(/^meridian: shard interrupted by SIGINT: the \d+ shards it wrote were removed$/);
    expect(existsSync(writing)).toBe(false);
    expect(early.code, early.stderr).toBe(143);
    expect(early.stdout).not.toContain('"event":"source"');
    expect(early.stderr.trimEnd()).toBe("meridian: shard interrupted by SIGTERM: nothing was written");
    expect(existsSync(reading)).toBe(false);
  });

  it("bad input: one line, exit code 1, nothing written", async () => {
    const file = join(tmp, "a-file");
    writeFileSync(file, "x");
    const out = join(tmp, "never");
    const runs = await Promise.all([
      meridian(["shard", "imagenet", "--out", out]),
      meridian(["shard", `csv:${join(tmp, "missing.csv")}`, "--out", out]),
      meridian(["shard", `csv:${csv}`, "--out", join(file, "sub")]),
      meridian(["shard", `csv:${csv}`, "--out", "s3://Not_A_Bucket/x"]),
      meridian(["shard", `csv:${csv}`, "--out", "https://cdn.example/sets/x"]),
      meridian(["shard", `csv:${csv}`, "--out", "s3://no-such-bucket/x", "--s3-endpoint", s3.url]),
      meridian(["shard", `csv:${csv}`, "--out", join(tmp, "tiny"), "--shard-size", "40"]),
      meridian(["shard", `csv:${csv}`, "--out", out, "--test-fraction", "1.5"]),
    ]);
    const [unknown, missing, unwritable, badS3, http, noBucket, tiny, fraction] = runs;
    expectFailure(unknown!, 'meridian: shard failed: unknown source "imagenet" (expected spam | mnist | weather | mnist-augmented:<copies> | csv:<path> | jsonl:<path> | parquet:<path>)');
    expectFailure(missing!, `meridian: shard failed: dataset file not found: ${join(tmp, "missing.csv")}`);
    expectFailure(unwritable!, `meridian: shard failed: cannot write to ${join(file, "sub")}: not a directory (a file is in the way)`);
    expectFailure(badS3!, 'meridian: shard failed: bad S3 URL "s3://Not_A_Bucket/x": bucket "Not_A_Bucket" is not 3-63 lowercase letters, digits, dots and hyphens');
    expectFailure(http!, /^meridian: shard failed: https:\/\/cdn\.example\/sets\/x: http\(s\) locations are read-only; write to a directory or s3:\/\/<bucket>\/<prefix> and serve that over HTTP$/);
    expectFailure(noBucket!, `meridian: shard failed: cannot write to s3://no-such-bucket/x/: bucket "no-such-bucket" not found at ${s3.url}`);
    expectFailure(tiny!, /^meridian: shard failed: shard size 40 B is too small for one row: 2 features need 44 B/);
    expectFailure(fraction!, "meridian: shard failed: --test-fraction must be between 0 and 1 (got 1.5)");
    expect(existsSync(out)).toBe(false);

    const badSize = await meridian(["shard", `csv:${csv}`, "--out", out, "--shard-size", "lots"]);
    expect(badSize.code).toBe(1);
    expect(badSize.stderr.split("\n")[0]).toMatch(/--shard-size takes a size like 64MiB/);
  });
});
