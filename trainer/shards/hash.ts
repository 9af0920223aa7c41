// sha256 of whole shards off the main thread, without copying them. A 16 MiB shard takes 10–25 ms
// to hash; on the main thread that lands on a training step. WebCrypto's digest runs in the thread
// pool but first copies its input on the main thread (16 MiB more to allocate, write and collect
// per shard). Here a buffer that owns its whole ArrayBuffer is transferred (zero-copy) to one
// hashing thread and transferred back with the digest; anything else (a view into a larger or
// pooled buffer, which must not be detached) goes through WebCrypto.
import { webcrypto } from "node:crypto";
import { Worker } from "node:worker_threads";

const THREAD = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", ({ id, buffer, length }) => {
  let hex = null, error = null;
  try { hex = createHash("sha256").update(new Uint8Array(buffer, 0, length)).digest("hex"); } catch (e) { error = String(e && e.message || e); }
  parentPort.postMessage({ id, hex, error, buffer }, [buffer]);
});`;

type Pending = { resolve: (r: { hex: string; bytes: Uint8Array }) => void; reject: (e: Error) => void };

let thread: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function hashingThread(): Worker {
  if (thread) return thread;
  const t = new Worker(THREAD, { eval: true });
  t.unref(); // referenced only while a hash is pending (below), so it never keeps a process alive
  t.on("message", (m: { id: number; hex: string | null; error: string | null; buffer: ArrayBuffer }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (pending.size === 0) t.unref();
    if (!p) return;
    if (m.hex === null) p.reject(new Error(`sha256 failed: ${m.error}`));
    else p.resolve({ hex: m.hex, bytes: new Uint8Array(m.buffer) });
  });
  const fail = (err: Error) => {
    thread = undefined;
    for (const p of pending.values()) p.reject(err); // their buffers went with the thread
    pending.clear();
  };
  t.on("error", fail);
  t.on("exit", (code) => fail(new Error(`the sha256 thread exited (${code})`)));
  thread = t;
  return t;
}

/** True when `b` spans all of a plain ArrayBuffer of its own: it can be transferred without detaching anyone else's data. */
const ownsBuffer = (b: Uint8Array): boolean => b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.byteLength > 0;

/**
 * sha256 (hex) of `bytes`, and the bytes to use afterwards: when they were transferred to the
 * hashing thread, `bytes` is detached and the returned array holds them (same memory, no copy).
 */
export async function sha256Of(bytes: Uint8Array): Promise<{ hex: string; bytes: Uint8Array }> {
  if (!ownsBuffer(bytes)) return { hex: Buffer.from(await webcrypto.subtle.digest("SHA-256", bytes)).toString("hex"), bytes };
  const t = hashingThread();
  const id = nextId++;
  const done = new Promise<{ hex: string; bytes: Uint8Array }>((resolve, reject) => pending.set(id, { resolve, reject }));
  t.ref();
  t.postMessage({ id, buffer: bytes.buffer, length: bytes.byteLength }, [bytes.buffer as ArrayBuffer]);
  return done;
}
