// The CLI's side of the admin API: the shared client (shared/admin-client.ts, also used by the
// seed and workerd tests) plus what only a CLI needs: readable network errors, who pushed, and
// artifacts streamed from disk with progress.
import { createReadStream } from "node:fs";
import { hostname, userInfo } from "node:os";
import { Readable } from "node:stream";
import { AdminClient, AdminError, type Fetch } from "../../shared/admin-client";

export { AdminClient, AdminError };

export const DEFAULT_URL = "http://127.0.0.1:8787";

export function connect(opts: { url: string; token: string; actor?: string }): AdminClient {
  const base = opts.url.replace(/\/+$/, "");
  // fetch hides the useful part (ECONNREFUSED, ENOTFOUND…) in `cause`.
  const fetcher: Fetch = async (input, init) => {
    try {
      return await fetch(input, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
  };
  return new AdminClient(base, opts.token, fetcher, opts.actor ?? defaultActor());
}

/** Recorded by the edge as `pushedBy` / history actor. */
function defaultActor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return "meridian";
  }
}

/** Streams the file (never held in memory); `onProgress` gets each chunk's size as it is read. */
export function uploadFile(client: AdminClient, file: string, sha256: string, size: number, onProgress?: (bytes: number) => void) {
  async function* chunks() {
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
      onProgress?.((chunk as Buffer).byteLength);
      yield chunk as Buffer;
    }
  }
  const stream = Readable.toWeb(Readable.from(chunks())) as ReadableStream<Uint8Array>;
  return client.uploadArtifact(sha256, stream, size);
}
