// A shard set served over HTTP(S): a static server, a CDN, or a public R2 bucket. Read-only;
// byte ranges are plain `Range: bytes=a-b` GETs that must come back 206 with exactly those bytes.
import { checkKey, checkRange, StoreError, why, type ShardSource } from "./types";

export class HttpSource implements ShardSource {
  readonly location: string;
  private readonly base: URL;

  constructor(url: string) {
    let base: URL;
    try {
      base = new URL(url.endsWith("/") ? url : `${url}/`);
    } catch {
      throw new StoreError(`bad URL ${JSON.stringify(url)}`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new StoreError(`not an http(s) URL: ${url}`);
    if (base.search || base.hash) throw new StoreError(`a shard set URL takes no query or fragment: ${url}`);
    this.base = base;
    this.location = base.href;
  }

  private url(key: string): string {
    return new URL(checkKey(key), this.base).href;
  }

  async get(key: string): Promise<Uint8Array> {
    const url = this.url(key);
    const res = await request(url, {});
    if (res.status !== 200) throw await statusError(res, url);
    return new Uint8Array(await res.arrayBuffer());
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    const url = this.url(key);
    const res = await request(url, { range: `bytes=${offset}-${offset + length - 1}` });
    if (res.status === 200) {
      await res.body?.cancel();
      // Taking the whole object and slicing it would silently turn every range read into a full download.
      throw new StoreError(`GET ${url}: the server ignored the Range header (HTTP 200, not 206); serve shards from one that honours Range`);
    }
    if (res.status === 416) {
      await res.body?.cancel();
      throw new StoreError(`GET ${url}: range ${offset}+${length} is past the end (HTTP 416)`);
    }
    if (res.status !== 206) throw await statusError(res, url);
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length !== length) throw new StoreError(`GET ${url}: asked for ${length} B at ${offset}, got ${body.length} B`);
    return body;
  }

  close(): void {}
}

async function request(url: string, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetch(url, { headers });
  } catch (err) {
    throw new StoreError(`GET ${url}: ${why(err)}`);
  }
}

async function statusError(res: Response, url: string): Promise<StoreError> {
  await res.body?.cancel(); // frees the connection
  return res.status === 404 ? new StoreError(`not found: ${url}`, true) : new StoreError(`GET ${url}: HTTP ${res.status}`);
}
