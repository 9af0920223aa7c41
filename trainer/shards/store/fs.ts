// A shard set in a local directory.
import { constants } from "node:fs";
import { access, mkdir, open, readdir, rename, rm, rmdir, stat, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { checkKey, checkRange, StoreError, type ShardStore } from "./types";

const TMP = ".tmp-";

export class FsStore implements ShardStore {
  readonly root: string;
  readonly location: string;
  /** The outermost directory prepare() created (undefined: the root was there). */
  private created: string | undefined;

  constructor(dir: string) {
    this.root = resolve(dir);
    this.location = this.root;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(key).split("/"));
  }

  async prepare(): Promise<void> {
    try {
      this.created = await mkdir(this.root, { recursive: true });
      if (!(await stat(this.root)).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
      await access(this.root, constants.W_OK);
    } catch (err) {
      throw new StoreError(`cannot write to ${this.root}: ${describe(err)}`);
    }
  }

  /**
   * The whole file in one buffer, read with as few read calls as the OS allows (usually one):
   * readFile reads in 512 KiB chunks, each of which needs a turn of the event loop, so a shard
   * prefetched while a training step holds the thread would take dozens of steps to arrive.
   * Into `reuse` when it is exactly the file's size (an evicted shard's memory).
   */
  async get(key: string, reuse?: ArrayBuffer): Promise<Uint8Array> {
    const path = this.path(key);
    let file: FileHandle;
    try {
      file = await open(path, "r");
    } catch (err) {
      throw notFoundOr(err, path);
    }
    try {
      const size = (await file.stat()).size;
      const out = reuse && reuse.byteLength === size ? Buffer.from(reuse) : Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const { bytesRead } = await file.read(out, got, size - got, got);
        if (bytesRead === 0) break; // truncated meanwhile: the caller's size check says so
        got += bytesRead;
      }
      return got === size ? out : out.subarray(0, got);
    } catch (err) {
      throw notFoundOr(err, path);
    } finally {
      await file.close();
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    const path = this.path(key);
    let file: FileHandle;
    try {
      file = await open(path, "r");
    } catch (err) {
      throw notFoundOr(err, path);
    }
    try {
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await file.read(out, got, length - got, offset + got);
        if (bytesRead === 0) throw new StoreError(`${path}: range ${offset}+${length} runs past the end (${offset + got} B)`);
        got += bytesRead;
      }
      return out;
    } finally {
      await file.close();
    }
  }

  /** Written to a temporary name, then renamed: readers see the old object or the new one. */
  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.path(key);
    const tmp = join(dirname(path), `${TMP}${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(tmp, body);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new StoreError(`cannot write ${path}: ${describe(err)}`);
    }
  }

  async discard(keys: string[]): Promise<void> {
    for (const key of keys) await rm(this.path(key), { force: true });
    // Then directories, deepest first, each only if empty: the splits', and up to what prepare made.
    const dirs = new Set(keys.map((k) => dirname(this.path(k))).filter((d) => d !== this.root));
    if (this.created) for (let d = this.root; d.startsWith(this.created); d = dirname(d)) dirs.add(d);
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => {});
  }

  async list(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.root, { recursive: true, withFileTypes: true });
    } catch (err) {
      throw notFoundOr(err, this.root);
    }
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith(TMP))
      .map((e) => join(e.parentPath ?? e.path, e.name).slice(this.root.length + 1).split(sep).join("/"))
      .sort();
  }

  close(): void {}
}

function describe(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOTDIR" || code === "EEXIST") return "not a directory (a file is in the way)";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "ENOSPC") return "no space left on device";
  return err instanceof StoreError ? err.message : (err as Error).message;
}

function notFoundOr(err: unknown, path: string): StoreError {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return new StoreError(`not found: ${path}`, true);
  return new StoreError(`cannot read ${path}: ${describe(err)}`);
}
