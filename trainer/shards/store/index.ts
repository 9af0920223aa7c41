// A shard set's location as the CLI takes it: a directory, s3://bucket/prefix, or (read-only)
// an http(s):// URL. The S3 SDK loads only when an s3:// location is used.
import { FsStore } from "./fs";
import { HttpSource } from "./http";
import type { S3Options } from "./s3";
import { StoreError, type ShardSource, type ShardStore } from "./types";

export type { ShardSource, ShardStore } from "./types";
export { StoreError } from "./types";
export type { S3Options } from "./s3";

export const LOCATION_HELP = "a directory or s3://<bucket>/<prefix>";

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

function scheme(spec: string): string | undefined {
  const m = SCHEME.exec(spec);
  // "C:\data" is a Windows path, not a scheme.
  return m && m[1]!.length > 1 ? m[1]!.toLowerCase() : undefined;
}

/** A writable store for `--out`. */
export async function openStore(spec: string, opts: { s3?: S3Options } = {}): Promise<ShardStore> {
  if (spec.trim() === "") throw new StoreError(`--out is empty (expected ${LOCATION_HELP})`);
  const s = scheme(spec);
  if (s === undefined) return new FsStore(spec);
  if (s === "s3") {
    const { S3Store } = await import("./s3");
    return new S3Store(spec, opts.s3);
  }
  if (s === "http" || s === "https") throw new StoreError(`${spec}: http(s) locations are read-only; write to a directory or s3://<bucket>/<prefix> and serve that over HTTP`);
  if (s === "file") throw new StoreError(`${spec}: pass a plain directory path instead of a file: URL`);
  throw new StoreError(`unsupported location ${JSON.stringify(spec)} (expected ${LOCATION_HELP})`);
}

/** A readable shard set: any store, or an http(s):// URL. */
export async function openSource(spec: string, opts: { s3?: S3Options } = {}): Promise<ShardSource> {
  const s = scheme(spec);
  if (s === "http" || s === "https") return new HttpSource(spec);
  return openStore(spec, opts);
}
