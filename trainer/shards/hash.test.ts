// sha256 off the main thread: the same digest as node:crypto, zero-copy for buffers that own their
// memory (transferred and handed back), never detaching a view into someone else's buffer.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sha256Of } from "./hash";

const hex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("sha256Of", () => {
  it("hashes an owned buffer on the hashing thread and hands the same bytes back", async () => {
    const data = Buffer.allocUnsafe(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const want = hex(data);
    const copy = Uint8Array.from(data);
    const r = await sha256Of(data);
    expect(r.hex).toBe(want);
    expect(data.byteLength).toBe(0); // transferred: detached here …
    expect(Buffer.from(r.bytes).equals(Buffer.from(copy))).toBe(true); // … and back, intact
  });

  it("never transfers a view into a larger buffer (it goes through WebCrypto instead)", async () => {
    const big = new Uint8Array(1 << 16).map((_, i) => i & 0xff);
    const view = big.subarray(100, 5000);
    const r = await sha256Of(view);
    expect(r.hex).toBe(hex(view));
    expect(r.bytes).toBe(view);
    expect(big.byteLength).toBe(1 << 16);
  });

  it("many at once: each digest is its own buffer's", async () => {
    const bufs = Array.from({ length: 8 }, (_, k) => new Uint8Array(70_000 + k).fill(k + 1));
    const want = bufs.map(hex);
    const got = await Promise.all(bufs.map((b) => sha256Of(b)));
    expect(got.map((g) => g.hex)).toEqual(want);
    got.forEach((g, k) => expect(g.bytes[0]).toBe(k + 1));
  });
});
