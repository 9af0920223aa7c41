// The CLI's side of the admin API: the shared client (shared/admin-client.ts, also used by the
// seed and workerd tests) plus what only a CLI needs: who pushed, and artifacts streamed from
// disk with progress.
import { createReadStream } from "node:fs";
import { hostname, userInfo } from "node:os";
import { Readable } from "node:stream";
import { AdminClient, AdminError } from "../../shared/admin-client";

export { AdminClient, AdminError };

export const DEFAULT_URL = "http://127.0.0.1:8787";

export function connect(opts: { url: string; token: string; actor?: string; timeoutMs?: number }): AdminClient {
  const base = opts.url.replace(/\/+$/, "");
  return new AdminClient(base, opts.token, { actor: opts.actor ?? defaultActor(), timeoutMs: opts.timeoutMs });
}

/** Recorded by the edge as `pushedBy` / history actor. */
function defaultActor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return "meridian";
  }
}

/**
 * Streams the file (never held in memory) unless the edge already has these bytes: a retry or
 * the same file under a second name costs one small request. `onProgress` gets each chunk's size.
 */
export async function uploadFile(client: AdminClient, file: string, sha256: string, size: number, onProgress?: (bytes: number) => void) {
  const stored = await client.artifact(sha256);
  if (stored) {
    onProgress?.(size);
    return { sha256, size: stored.size, created: false };
  }
  async function* chunks() {
    for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
      onProgress?.((chunk as Buffer).byteLength);
      yield chunk as Buffer;
    }
  }
  const stream = Readable.toWeb(Readable.from(chunks())) as ReadableStream<Uint8Array>;
  return client.uploadArtifact(sha256, stream, size);
}
