// Browser mode: runs a published model on this device with onnxruntime-web, after checking that
// it is what its publisher signed (Ed25519 over the manifest, with keys the caller trusts, then
// the bytes' sha256 against the manifest). Anything that stops that (no download opt-in, a bad
// signature or hash, no runtime, a failed run) sends the call to the edge instead, with the reason.
// The caller passes the `ort` module: the client has no dependency on onnxruntime-web.
import { ORT_TYPE, datatypeFromOrt, elementCount, type OrtType } from "../shared/datatypes";
import { sha256Hex } from "../shared/hash";
import type { Manifest } from "../shared/manifest";
import type { OutputTensor } from "../shared/oip";
import { SignatureError, verifyManifest } from "../shared/signing";
import { checkShape, type TensorValues } from "../shared/tensors";
import { MeridianClient, type Fetch, type InferAnswer, type InferRequest } from "./client";
import { InferenceOutputs, toTensorInput } from "./tensors";

/** The parts of onnxruntime-web used here; `import * as ort from "onnxruntime-web"` fits it. */
export interface OrtModule {
  InferenceSession: {
    create(model: Uint8Array, options?: { executionProviders?: string[]; graphOptimizationLevel?: "all" }): Promise<OrtSession>;
  };
  Tensor: new (type: OrtType, data: TensorValues, dims?: readonly number[]) => OrtTensor;
}

export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export interface OrtSession {
  run(feeds: Record<string, OrtTensor>, fetches: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export type Backend = "webgpu" | "wasm";

export interface LocalModelOptions {
  /** The edge: where the package comes from and where calls go when the model cannot run here. */
  baseUrl: string;
  /** Raw Ed25519 public keys (base64) whose signatures are trusted: the edge's SIGNING_PUBLIC_KEYS. */
  publicKeys: readonly string[];
  /** The onnxruntime-web module, configured by the caller (ort.env.wasm.wasmPaths and so on). */
  ort: OrtModule;
  /** Pin a version; else the one the edge would serve this caller (canaries included). */
  version?: string | number;
  /** "auto" (default): WebGPU when the browser has an adapter, else WASM. */
  backend?: "auto" | Backend;
  /** Sent with the package request and by the default remote client (e.g. x-user-id, the canary key). */
  headers?: Record<string, string>;
  fetch?: Fetch;
  /** What answers when the model cannot run here; default: a MeridianClient on baseUrl. */
  client?: MeridianClient;
  /** After a failed load, calls go to the edge for this long before loading is tried again (60 s). */
  retryLoadMs?: number;
  /** Downloading the package and the artifact, each (60 s). */
  downloadTimeoutMs?: number;
}

export type LocalInferRequest = Omit<InferRequest, "version">;

/** Answered on this device: no request was sent (pop, route null; attempts and bytes 0). */
export interface LocalAnswer extends InferAnswer {
  where: "local";
  backend: Backend;
}

/** Answered by the edge, and why the model did not run here. */
export interface RemoteAnswer extends InferAnswer {
  where: "remote";
  reason: string;
}

export type LocalInferAnswer = LocalAnswer | RemoteAnswer;

export type LoadStatus = { ok: true; backend: Backend; version: number; variant: string | null } | { ok: false; reason: string };

interface Loaded {
  manifest: Manifest;
  session: OrtSession;
  backend: Backend;
  variant: string | null;
}

/** Why this model does not run here; the message says which check refused it. */
class NotLocal extends Error {
  override name = "NotLocal";
}

export class LocalModel {
  readonly model: string;
  readonly baseUrl: string;
  private readonly opts: LocalModelOptions;
  private readonly fetcher: Fetch;
  private readonly client: MeridianClient;
  private loading: Promise<Loaded> | null = null;
  private failedAt = 0;

  constructor(model: string, opts: LocalModelOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) throw new TypeError(`a base URL starts with http:// or https:// (got "${opts.baseUrl}")`);
    this.model = model;
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.opts = opts;
    const f = opts.fetch;
    this.fetcher = f ? (input, init) => f(input, init) : (input, init) => fetch(input, init);
    this.client = opts.client ?? new MeridianClient({ baseUrl: this.baseUrl, ...(f ? { fetch: f } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
  }

  /** Downloads, verifies and loads the model (once; infer calls it); says whether it runs here. */
  async load(): Promise<LoadStatus> {
    try {
      const { backend, manifest, variant } = await this.loaded();
      return { ok: true, backend, version: manifest.version, variant };
    } catch (err) {
      return { ok: false, reason: reasonOf(err) };
    }
  }

  /** Drops the loaded version: the next call downloads what the edge serves now. */
  async reload(): Promise<LoadStatus> {
    await this.release();
    return this.load();
  }

  async release(): Promise<void> {
    const loading = this.loading;
    this.loading = null;
    this.failedAt = 0;
    const loaded = await loading?.catch(() => null);
    await loaded?.session.release();
  }

  /**
   * OIP inference, on this device when the model loaded and the request is one it can answer
   * here, else by the edge (`where: "remote"` and the reason). Outputs are typed as the remote
   * call's. A malformed tensor is a TensorError before anything runs, as with the remote call.
   */
  async infer(request: LocalInferRequest): Promise<LocalInferAnswer> {
    request.signal?.throwIfAborted();
    const inputs = request.inputs.map(toTensorInput);
    let loaded: Loaded;
    try {
      loaded = await this.loaded();
    } catch (err) {
      return this.remote(request, reasonOf(err));
    }
    let outputs: OutputTensor[];
    try {
      outputs = await run(this.opts.ort, loaded, inputs, request.outputs);
    } catch (err) {
      return this.remote(request, `local run: ${err instanceof Error ? err.message : String(err)}`);
    }
    const { manifest } = loaded;
    const result = new InferenceOutputs({ model_name: manifest.name, model_version: String(manifest.version), outputs, ...(request.id !== undefined ? { id: request.id } : {}) });
    return {
      where: "local",
      result,
      id: request.id,
      pop: null,
      version: String(manifest.version),
      variant: loaded.variant,
      route: null,
      cache: null,
      batchRows: null,
      backend: loaded.backend,
      attempts: 0,
      hedged: false,
      url: this.baseUrl,
      bytesSent: 0,
      bytesReceived: 0,
    };
  }

  private async remote(request: LocalInferRequest, reason: string): Promise<RemoteAnswer> {
    const version = this.opts.version;
    const answer = await this.client.infer(this.model, version === undefined ? request : { ...request, version });
    return { ...answer, where: "remote", reason };
  }

  /** The loaded model; a failed load is remembered for retryLoadMs, so calls do not each retry it. */
  private loaded(): Promise<Loaded> {
    if (this.loading && this.failedAt > 0 && Date.now() - this.failedAt >= (this.opts.retryLoadMs ?? 60_000)) this.loading = null;
    if (!this.loading) {
      this.failedAt = 0;
      const loading = this.fetchAndLoad();
      loading.catch(() => {
        if (this.loading === loading) this.failedAt = Date.now();
      });
      this.loading = loading;
    }
    return this.loading;
  }

  private async fetchAndLoad(): Promise<Loaded> {
    const { version, publicKeys } = this.opts;
    const path = `/v2/models/${encodeURIComponent(this.model)}${version === undefined ? "" : `/versions/${encodeURIComponent(String(version))}`}/package`;
    const res = await this.download(`${this.baseUrl}${path}`, "package", this.opts.headers);
    const pkg: unknown = await res.json().catch(() => null);
    if (!isPackage(pkg)) throw new NotLocal(`package: ${path} did not answer {manifest, signature, artifact}`);
    const { manifest, signature } = pkg;

    // Nothing from the package is used before its signature verifies.
    if (publicKeys.length === 0) throw new NotLocal("signature: no public keys are configured (publicKeys), so no signature can be trusted");
    let verified: boolean;
    try {
      verified = await verifyManifest(manifest, signature, publicKeys);
    } catch (err) {
      if (err instanceof SignatureError) throw new NotLocal(`signature: ${err.message}`);
      throw new NotLocal(`signature: this browser cannot verify Ed25519 signatures (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!verified) throw new NotLocal(`signature: the manifest of ${this.model} does not verify with any of the ${publicKeys.length} configured public key(s); refused`);
    // A genuine manifest of another model or version must not stand in for this one.
    if (manifest.name !== this.model) throw new NotLocal(`package: the signed manifest is of model "${manifest.name}", not "${this.model}"`);
    if (version !== undefined && String(manifest.version) !== String(version)) throw new NotLocal(`package: the signed manifest is of version ${manifest.version}, not ${version}`);
    if (manifest.serving?.download !== true) throw new NotLocal(`package: the signed manifest of ${this.model} version ${manifest.version} does not opt in to downloads`);

    const bytes = new Uint8Array(await (await this.download(new URL(pkg.artifact, `${this.baseUrl}/`).href, "artifact")).arrayBuffer());
    if (bytes.byteLength !== manifest.size) throw new NotLocal(`artifact: ${bytes.byteLength} bytes, the signed manifest says ${manifest.size}; refused`);
    const digest = await sha256Hex(bytes);
    if (digest !== manifest.sha256) throw new NotLocal(`artifact: the bytes hash to sha256 ${digest}, the signed manifest says ${manifest.sha256}; refused`);

    const { session, backend } = await this.createSession(bytes, manifest);
    return { manifest, session, backend, variant: res.headers.get("x-meridian-variant") };
  }

  private async download(url: string, what: string, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetcher(url, { headers, signal: AbortSignal.timeout(this.opts.downloadTimeoutMs ?? 60_000) });
    } catch (err) {
      throw new NotLocal(`${what}: cannot download ${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!res.ok) {
      const body = await res.text().catch(() => "");
      let error = body.slice(0, 512);
      try {
        error = String((JSON.parse(body) as { error?: unknown }).error ?? error);
      } catch {
        // not JSON: the text as it is
      }
      throw new NotLocal(`${what}: ${res.status} ${error}`);
    }
    return res;
  }

  /** WebGPU first when the browser has an adapter, then WASM; each must also answer a warm-up run. */
  private async createSession(bytes: Uint8Array, manifest: Manifest): Promise<{ session: OrtSession; backend: Backend }> {
    const wanted = this.opts.backend ?? "auto";
    const candidates: Backend[] = wanted === "auto" ? ((await hasGpuAdapter()) ? ["webgpu", "wasm"] : ["wasm"]) : [wanted];
    const failures: string[] = [];
    for (const backend of candidates) {
      let session: OrtSession | undefined;
      try {
        session = await this.opts.ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
        await session.run(warmupFeeds(this.opts.ort, manifest), manifest.outputs.map((o) => o.name));
        return { session, backend };
      } catch (err) {
        await session?.release().catch(() => undefined);
        failures.push(`${backend}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new NotLocal(`runtime: onnxruntime-web cannot run ${manifest.name} version ${manifest.version} here (${failures.join("; ")})`);
  }
}

function isPackage(value: unknown): value is { manifest: Manifest; signature: string; artifact: string } {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.signature === "string" && typeof v.artifact === "string" && !!v.manifest && typeof v.manifest === "object" && !Array.isArray(v.manifest);
}

/** navigator.gpu is not in TypeScript's DOM types (nor in every browser). */
interface GpuLike {
  requestAdapter(): Promise<unknown>;
}

async function hasGpuAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/** One row of zeros per input (every dynamic dimension 1), as the edge's generated warm-up. */
function warmupFeeds(ort: OrtModule, manifest: Manifest): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const spec of manifest.inputs) {
    const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
    const zero = spec.datatype === "BYTES" ? "" : spec.datatype === "BOOL" ? false : 0;
    const { values } = toTensorInput({ name: spec.name, datatype: spec.datatype, shape: dims, values: new Array<typeof zero>(elementCount(dims)).fill(zero) });
    feeds[spec.name] = new ort.Tensor(ORT_TYPE[spec.datatype], values as TensorValues, dims);
  }
  return feeds;
}

/**
 * The model's answer to typed inputs. What it cannot answer here (inputs that do not fit the
 * manifest, raw text for a featurizer, the classification extension) throws, and the edge answers:
 * its 400s name the fault as every other call's do.
 */
async function run(
  ort: OrtModule,
  { manifest, session }: Loaded,
  inputs: ReturnType<typeof toTensorInput>[],
  outputs: LocalInferRequest["outputs"],
): Promise<OutputTensor[]> {
  const specs = new Map(manifest.inputs.map((s) => [s.name, s]));
  const feeds: Record<string, OrtTensor> = {};
  for (const input of inputs) {
    const spec = specs.get(input.name);
    if (!spec) throw new Error(`unknown input "${input.name}"`);
    if (feeds[input.name]) throw new Error(`input "${input.name}" is given twice`);
    if (input.datatype !== spec.datatype) {
      throw new Error(input.datatype === "BYTES" && manifest.preprocessing ? `raw text is featurized by the edge` : `input "${input.name}": datatype ${input.datatype}, the model takes ${spec.datatype}`);
    }
    checkShape(input.name, input.shape, spec);
    feeds[input.name] = new ort.Tensor(ORT_TYPE[spec.datatype], input.values as TensorValues, input.shape);
  }
  for (const name of specs.keys()) if (!feeds[name]) throw new Error(`missing input "${name}"`);
  const known = new Set(manifest.outputs.map((o) => o.name));
  const wanted: NonNullable<LocalInferRequest["outputs"]> = outputs ?? manifest.outputs.map((o) => ({ name: o.name }));
  for (const o of wanted) {
    if (!known.has(o.name)) throw new Error(`unknown output "${o.name}"`);
    if (o.parameters?.classification !== undefined) throw new Error(`the classification extension is answered by the edge`);
  }
  const names = [...new Set(wanted.map((o) => o.name))];
  const produced = await session.run(feeds, names);
  return wanted.map(({ name }) => toOutput(name, produced[name]));
}

function toOutput(name: string, tensor: OrtTensor | undefined): OutputTensor {
  if (!tensor) throw new Error(`the model produced no output "${name}"`);
  const datatype = datatypeFromOrt(tensor.type);
  if (!datatype) throw new Error(`output "${name}" has type ${tensor.type}, which OIP cannot carry`);
  let values = tensor.data as TensorValues | ArrayBufferView;
  // FP16 travels as raw half-float bits (Uint16Array); a browser with Float16Array may hand those.
  if (datatype === "FP16" && !(values instanceof Uint16Array) && ArrayBuffer.isView(values)) {
    values = new Uint16Array(values.buffer, values.byteOffset, values.byteLength / 2);
  }
  return { name, datatype, shape: [...tensor.dims], values: values as TensorValues };
}

function reasonOf(err: unknown): string {
  if (err instanceof NotLocal) return err.message;
  return `load: ${err instanceof Error ? err.message : String(err)}`;
}
