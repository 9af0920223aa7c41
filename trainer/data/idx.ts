// The IDX format of the MNIST files (yann.lecun.com/exdb/mnist): a big-endian header — two zero
// bytes, a type byte (0x08 = unsigned byte), the number of dimensions — then one big-endian
// uint32 size per dimension, then the values row-major.
import { DatasetError } from "./types";

export type IdxArray = { dims: number[]; data: Uint8Array };

export function parseIdx(bytes: Uint8Array, what: string): IdxArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0) throw new DatasetError(`${what}: not an IDX file (bad magic)`);
  const type = bytes[2]!;
  const rank = bytes[3]!;
  if (type !== 0x08) throw new DatasetError(`${what}: IDX type 0x${type.toString(16)} (only unsigned bytes, 0x08, are read)`);
  const header = 4 + 4 * rank;
  if (rank < 1 || bytes.length < header) throw new DatasetError(`${what}: truncated IDX header`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + count) {
    throw new DatasetError(`${what}: IDX dims [${dims.join(", ")}] need ${header + count} bytes, the file has ${bytes.length}`);
  }
  return { dims, data: bytes.subarray(header) };
}
