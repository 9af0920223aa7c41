// A shard set in an S3-compatible bucket: Cloudflare R2 in production (S3_ENDPOINT=
// https://<account>.r2.cloudflarestorage.com, region "auto", an R2 API token's key pair as
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), AWS S3, or any server that speaks the API.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
} from "@aws-sdk/client-s3";
import { checkKey, checkRange, StoreError, why, type ShardStore } from "./types";

// The SDK warns on stderr, once per process, that its releases after January 2027 need Node 22.
// That notice is about upgrading the project (package.json engines), not about this command, and
// it would break the CLI's one-line failure contract; setting the variable yourself overrides this.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export type S3Location = { bucket: string; prefix: string };

export type S3Options = {
  /** Endpoint URL (default: $S3_ENDPOINT, $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS). */
  endpoint?: string;
  /** Region (default: $AWS_REGION, "auto" with a custom endpoint as R2 wants, else us-east-1). */
  region?: string;
  /** Explicit credentials (default: the SDK's chain: environment, profile, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
};

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** "s3://bucket/some/prefix" → { bucket, prefix: "some/prefix/" }. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/.exec(url);
  if (!m) throw new StoreError(`bad S3 URL ${JSON.stringify(url)} (expected s3://<bucket>[/<prefix>], no query or fragment)`);
  const bucket = m[1]!;
  if (!BUCKET.test(bucket)) {
    throw new StoreError(`bad S3 URL ${JSON.stringify(url)}: bucket ${JSON.stringify(bucket)} is not 3-63 lowercase letters, digits, dots and hyphens`);
  }
  const parts = (m[2] ?? "").split("/").filter((p) => p !== "");
  if (parts.some((p) => p === "." || p === "..")) throw new StoreError(`bad S3 URL ${JSON.stringify(url)}: "." or ".." in the prefix`);
  return { bucket, prefix: parts.length ? `${parts.join("/")}/` : "" };
}

export class S3Store implements ShardStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpoint: string | undefined;

  constructor(url: string, opts: S3Options = {}) {
    const { bucket, prefix } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}/${prefix}`;
    const env = process.env;
    const endpoint = (opts.endpoint ?? env.S3_ENDPOINT ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL)?.trim() || undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) throw new StoreError(`bad S3 endpoint ${JSON.stringify(endpoint)} (expected an http(s) URL)`);
    this.endpoint = endpoint;
    this.client = new S3Client({
      region: opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? "auto" : "us-east-1"),
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Shards carry their own sha256 in the manifest; the SDK's default CRC trailers are not
      // understood by every S3-compatible server.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private key(key: string): string {
    return this.prefix + checkKey(key);
  }

  private get at(): string {
    return this.endpoint ? ` at ${this.endpoint}` : "";
  }

  private where(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  async prepare(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = httpStatus(err);
      const at = this.at;
      if (status === 404) throw new StoreError(`cannot write to ${this.location}: bucket "${this.bucket}" not found${at}`);
      if (status === 403) throw new StoreError(`cannot write to ${this.location}: access denied to bucket "${this.bucket}"${at}`);
      throw new StoreError(`cannot write to ${this.location}: ${s3Why(err)}`);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    return this.fetch(key);
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    checkRange(offset, length);
    const body = await this.fetch(key, `bytes=${offset}-${offset + length - 1}`);
    if (body.length !== length) throw new StoreError(`${this.where(key)}: asked for ${length} B at ${offset}, got ${body.length} B`);
    return body;
  }

  private async fetch(key: string, range?: string): Promise<Uint8Array> {
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), ...(range ? { Range: range } : {}) }));
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchBucket") throw new StoreError(`cannot read ${this.where(key)}: bucket "${this.bucket}" not found${this.at}`);
      if (httpStatus(err) === 404) throw new StoreError(`not found: ${this.where(key)}`, true);
      if (httpStatus(err) === 416) throw new StoreError(`${this.where(key)}: ${range} is past the end`);
      throw new StoreError(`cannot read ${this.where(key)}: ${s3Why(err)}`);
    }
    if (!out.Body) throw new StoreError(`${this.where(key)}: empty response`);
    return out.Body.transformToByteArray();
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(key),
          Body: body,
          ContentLength: body.length,
          ContentType: key.endsWith(".json") ? "application/json" : "application/octet-stream",
        }),
      );
    } catch (err) {
      throw new StoreError(`cannot write ${this.where(key)}: ${s3Why(err)}`);
    }
  }

  async list(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new StoreError(`cannot list ${this.location}: ${s3Why(err)}`);
    }
    return keys.sort();
  }

  async discard(keys: string[]): Promise<void> {
    for (const key of keys) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      } catch (err) {
        throw new StoreError(`cannot delete ${this.where(key)}: ${s3Why(err)}`);
      }
    }
  }

  close(): void {
    this.client.destroy();
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** The SDK's errors name a code (NoSuchBucket, AccessDenied, …) and a message; network errors a cause. */
function s3Why(err: unknown): string {
  const e = err as { name?: string; message?: string };
  if (e.name === "CredentialsProviderError") return "no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, e.g. an R2 API token's key pair)";
  const status = httpStatus(err);
  if (status !== undefined) return `${e.name ?? "error"} (HTTP ${status})${e.message && e.message !== e.name && e.message !== "UnknownError" ? `: ${e.message}` : ""}`;
  return why(err);
}
