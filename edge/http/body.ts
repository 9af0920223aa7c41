// Reads a request body (raw or as JSON) without ever holding more than the given limit in memory.
import { InvalidInput, PayloadTooLarge } from "../errors";

/** No request needs deeper JSON; deeper would let a client overflow a recursive walk (a 500). */
export const MAX_JSON_DEPTH = 128;

export async function readJson(request: Request, limit: number): Promise<unknown> {
  return parseJson(await readBytes(request, limit));
}

// Stateless for whole-buffer decodes, so one serves every request.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** A body's bytes as JSON: empty, invalid UTF-8, too deep or malformed is an InvalidInput. */
export function parseJson(bytes: Uint8Array | null): unknown {
  if (!bytes || bytes.byteLength === 0) throw new InvalidInput("request body is empty; expected a JSON object");
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new InvalidInput("malformed JSON: body is not valid UTF-8");
  }
  if (text.trim() === "") throw new InvalidInput("request body is empty; expected a JSON object");
  if (tooDeep(text, MAX_JSON_DEPTH)) throw new InvalidInput(`malformed JSON: nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidInput(`malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * A streamed body found over the limit is read on to its end (and dropped) before the 413 while it
 * stays this close to the limit, so an HTTP/1.1 client still sending it reads the answer instead
 * of a reset connection; a larger one is cut off.
 */
export const LINGER_BYTES = 16 << 20;

/**
 * The raw body, or null when there is none; never holds more than `limit` bytes. It is copied
 * once, from the stream's chunks into one buffer, placed so that byte `alignAt` (where binary
 * tensor data starts, after its JSON header) is 8-byte aligned: typed arrays view it in place.
 */
export async function readBytes(request: Request, limit: number, alignAt = 0): Promise<Uint8Array | null> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  // Refused unread: the runtime drains or closes a declared body it was not asked to read.
  if (declared > limit) throw tooLarge(limit);
  // A declared length needs no alignment offset: one native read instead of a loop over chunks,
  // without request.body (a stream object the runtime builds when it is first read).
  if (Number.isSafeInteger(declared) && alignAt % 8 === 0) return declared === 0 ? null : new Uint8Array(await request.arrayBuffer());
  if (!request.body) return null;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await linger(reader, size - limit);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const pad = (8 - (alignAt % 8)) % 8;
  const bytes = new Uint8Array(new ArrayBuffer(pad + size), pad, size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/** Reads on while the body stays within LINGER_BYTES past the limit, then cuts it off. */
async function linger(reader: ReadableStreamDefaultReader<Uint8Array>, over: number): Promise<void> {
  while (over <= LINGER_BYTES) {
    const { done, value } = await reader.read();
    if (done) return;
    over += value.byteLength;
  }
  await reader.cancel();
}

/** Whether brackets outside strings nest deeper than `max` (a linear scan, before parsing). */
function tooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Reads a body to its end and drops it: an HTTP/1.1 client still sending one must finish first. */
export async function drain(body: ReadableStream<Uint8Array> | null): Promise<void> {
  if (!body) return;
  const reader = body.getReader();
  while (!(await reader.read()).done);
}

const tooLarge = (limit: number) => new PayloadTooLarge(`request body exceeds the ${limit}-byte limit (MAX_BODY_BYTES)`);
