// The prediction API's client: OIP v2 inference (JSON or binary tensors), /v1/predict, metadata
// and health, with retries under a budget, an optional hedged request to a second base URL, and
// typed errors. Web-standard only (fetch, AbortController, TextEncoder): Node, browsers, Workers.
import { BINARY_CONTENT_TYPE, HEADER_LENGTH, encodeRequest, headerLength } from "../shared/binary";
import type { TensorSpec } from "../shared/manifest";
import { MeridianError, NetworkError, RateLimitedError, UnavailableError, errorBody, errorFor, type ErrorBody, type GaveUp } from "./errors";
import { RetryBudget, backoffMs, type BackoffOptions, type RetryBudgetOptions } from "./retry";
import { InferenceOutputs, decodeAnswer, toTensorInput, type InputTensor } from "./tensors";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface RetryOptions extends BackoffOptions {
  /** Requests per call at most, the first included (hedges not counted); 1 turns retries off. */
  maxAttempts?: number;
  /** A Retry-After longer than this ends the call with the error instead of waiting. */
  maxRetryAfterMs?: number;
}

export interface ClientOptions {
  /** The edge, e.g. http://127.0.0.1:8787 or https://meridian.example.workers.dev. */
  baseUrl: string;
  /** A second base URL: the same request goes there too when `baseUrl` has not answered within hedgeAfterMs. */
  hedgeUrl?: string;
  /** Default 100 ms; a p95 latency is a good choice. */
  hedgeAfterMs?: number;
  retry?: RetryOptions;
  /** Limits retries and hedges across all calls of this client; pass one RetryBudget to share it between clients. */
  budget?: RetryBudgetOptions | RetryBudget;
  /** Per request: no complete answer within this long is a NetworkError (retried). Default 30 s. */
  timeoutMs?: number;
  /** Sent with every request, e.g. {"x-user-id": "…"} (the rate limit and the sticky canary key). */
  headers?: Record<string, string>;
  fetch?: Fetch;
}

/** Per call. */
export interface CallOptions {
  headers?: Record<string, string>;
  /** Aborting ends the call (with the signal's reason), including its retries and hedges. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface InferRequest extends CallOptions {
  inputs: InputTensor[];
  /** Which outputs, with per-output parameters ({"binary_data": true}, {"classification": 2}). */
  outputs?: Array<{ name: string; parameters?: Record<string, unknown> }>;
  id?: string;
  parameters?: Record<string, unknown>;
  /** Pin a version instead of the serving one (and its canary). */
  version?: string | number;
  /** How the inputs travel: "json" (default) or "binary" (raw little-endian data after a JSON header). */
  encoding?: "json" | "binary";
  /** Ask for every output as binary data (binary_data_output). */
  binaryOutputs?: boolean;
}

/** What every answered call reports about who answered and what it cost. */
export interface Answered {
  /** x-meridian-pop: the point of presence that answered. */
  pop: string | null;
  /** x-meridian-model-version. */
  version: string | null;
  /** x-meridian-variant: stable, canary, pinned or fallback. */
  variant: string | null;
  /** x-meridian-route: local, forwarded or failover. */
  route: string | null;
  /** x-meridian-backend: the execution provider that ran the model. */
  backend: string | null;
  /** x-meridian-cache: hit-isolate, hit-pop, miss or bypass (the response cache). */
  cache: string | null;
  /** x-meridian-batch-rows: rows in the run that answered (more than sent when batched); null when not batched. */
  batchRows: number | null;
  /** Requests sent for this call: the first, retries and hedges. */
  attempts: number;
  /** The answer came from hedgeUrl. */
  hedged: boolean;
  /** The base URL that answered. */
  url: string;
  /** Request and response body bytes of the answered request (headers not counted). */
  bytesSent: number;
  bytesReceived: number;
}

export interface InferAnswer extends Answered {
  result: InferenceOutputs;
  /** The request id, as the edge echoed it. */
  id: string | undefined;
}

export interface Prediction {
  /** The row's class, when the model's manifest names classes for an output. */
  class?: string | null;
  /** One entry per output: this row's values (a scalar for a rank-1 output). */
  [output: string]: unknown;
}

export interface PredictAnswer extends Answered {
  model_name: string;
  model_version: string;
  predictions: Prediction[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  properties: { version: string; sha256: string; quantization: string; created_at: string; preprocessing?: { id: string; params: Record<string, unknown> } };
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

/** Statuses worth another try: the condition is temporary or was in between. */
const RETRYABLE = new Set([429, 502, 503, 504]);

interface Call {
  method: "GET" | "POST";
  path: string;
  body?: Uint8Array;
  headers: Record<string, string>;
  /** A probe reports the state now: one request, no retry, no hedge. */
  probe?: boolean;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  url: string;
}

type Outcome = { ok: true; answer: Answer } | { ok: false; error: MeridianError; retryable: boolean } | { ok: false; aborted: true };

interface Exchange {
  outcome: Outcome;
  sent: number;
  hedged: boolean;
}

const encoder = new TextEncoder();

export class MeridianClient {
  readonly baseUrl: string;
  readonly hedgeUrl: string | undefined;
  readonly budget: RetryBudget;
  private readonly hedgeAfterMs: number;
  private readonly retry: Required<RetryOptions>;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetcher: Fetch;

  constructor(opts: ClientOptions) {
    this.baseUrl = base(opts.baseUrl);
    this.hedgeUrl = opts.hedgeUrl === undefined ? undefined : base(opts.hedgeUrl);
    this.hedgeAfterMs = opts.hedgeAfterMs ?? 100;
    this.retry = { maxAttempts: 3, maxRetryAfterMs: 5_000, baseMs: 50, maxMs: 2_000, ...opts.retry };
    if (!(this.retry.maxAttempts >= 1)) throw new RangeError("retry.maxAttempts must be at least 1");
    this.budget = opts.budget instanceof RetryBudget ? opts.budget : new RetryBudget(opts.budget);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.headers = { ...opts.headers };
    // Called through a closure: a browser's fetch must not be called as a method of the client.
    const f = opts.fetch;
    this.fetcher = f ? (input, init) => f(input, init) : (input, init) => fetch(input, init);
  }

  /** OIP v2 inference on the serving version (or `version`): typed outputs and who answered. */
  async infer(model: string, request: InferRequest): Promise<InferAnswer> {
    const inputs = request.inputs.map(toTensorInput);
    const parameters = request.binaryOutputs ? { ...request.parameters, binary_data_output: true } : request.parameters;
    const binary = request.encoding === "binary";
    const { body, headerLength: length } = encodeRequest(
      {
        inputs,
        ...(request.id !== undefined ? { id: request.id } : {}),
        ...(parameters ? { parameters } : {}),
        ...(request.outputs ? { outputs: request.outputs } : {}),
      },
      () => binary,
    );
    const headers: Record<string, string> =
      length === null ? { "content-type": "application/json" } : { "content-type": BINARY_CONTENT_TYPE, [HEADER_LENGTH]: String(length) };
    const path = `${modelPath(model, request.version)}/infer`;
    const { answer, meta } = await this.run({ method: "POST", path, body, headers }, request);
    let result: InferenceOutputs;
    try {
      result = new InferenceOutputs(decodeAnswer(answer.body, headerLength(answer.headers.get(HEADER_LENGTH))));
    } catch (err) {
      throw malformed(answer, meta.attempts, err);
    }
    return { result, id: result.id, ...meta, version: meta.version ?? result.model_version };
  }

  /** /v1/predict: rows of features (or texts, for a text model) → one prediction per row, with its class. */
  async predict(model: string, instances: ReadonlyArray<ReadonlyArray<number | string | boolean> | string>, opts: CallOptions = {}): Promise<PredictAnswer> {
    const body = encoder.encode(JSON.stringify({ instances }));
    const { answer, meta } = await this.run({ method: "POST", path: `/v1/predict/${encodeURIComponent(model)}`, body, headers: { "content-type": "application/json" } }, opts);
    const parsed = json<{ model_name: string; model_version: string; predictions: Prediction[] }>(answer, meta.attempts, (v) => Array.isArray(v.predictions));
    return { model_name: parsed.model_name, model_version: parsed.model_version, predictions: parsed.predictions, ...meta };
  }

  /** The serving version's (or `version`'s) metadata: inputs, outputs, versions. */
  async metadata(model: string, version?: string | number, opts: CallOptions = {}): Promise<ModelMetadata> {
    const { answer, meta } = await this.run({ method: "GET", path: modelPath(model, version), headers: {} }, opts);
    return json<ModelMetadata>(answer, meta.attempts, (v) => Array.isArray(v.inputs));
  }

  /** GET /v2: the server's name, version and extensions. */
  async server(opts: CallOptions = {}): Promise<ServerMetadata> {
    const { answer, meta } = await this.run({ method: "GET", path: "/v2", headers: {} }, opts);
    return json<ServerMetadata>(answer, meta.attempts, (v) => typeof v.name === "string");
  }

  /**
   * Whether the model (or version) can predict now: true on 200, false on 503 (it cannot be
   * loaded). An unknown model or version is a NotFoundError. One request, no retry.
   */
  async ready(model: string, version?: string | number, opts: CallOptions = {}): Promise<boolean> {
    return this.probe(`${modelPath(model, version)}/ready`, opts, [503]);
  }

  /** Liveness: true when the edge answers 200; no answer is a NetworkError. One request, no retry. */
  async live(opts: CallOptions = {}): Promise<boolean> {
    return this.probe("/v2/health/live", opts, [500, 502, 503, 504]);
  }

  private async probe(path: string, opts: CallOptions, notReady: number[]): Promise<boolean> {
    try {
      await this.run({ method: "GET", path, headers: {}, probe: true }, opts);
      return true;
    } catch (err) {
      if (err instanceof MeridianError && notReady.includes(err.status)) return false;
      throw err;
    }
  }

  /**
   * One call: a (possibly hedged) exchange, then retries of retryable failures with backoff
   * while attempts, the budget and Retry-After allow.
   */
  private async run(request: Call, opts: CallOptions): Promise<{ answer: Answer; meta: Answered }> {
    const signal = opts.signal;
    signal?.throwIfAborted();
    const call: Call = { ...request, headers: { ...this.headers, ...opts.headers, ...request.headers } };
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const maxAttempts = request.probe ? 1 : this.retry.maxAttempts;
    this.budget.deposit();
    let sent = 0;
    for (let attempt = 1; ; attempt++) {
      const { outcome, sent: n, hedged } = await this.exchange(call, timeoutMs, signal);
      sent += n;
      if (outcome.ok) {
        const h = outcome.answer.headers;
        const meta: Answered = {
          pop: h.get("x-meridian-pop"),
          version: h.get("x-meridian-model-version"),
          variant: h.get("x-meridian-variant"),
          route: h.get("x-meridian-route"),
          backend: h.get("x-meridian-backend"),
          cache: h.get("x-meridian-cache"),
          batchRows: h.has("x-meridian-batch-rows") ? Number(h.get("x-meridian-batch-rows")) : null,
          attempts: sent,
          hedged,
          url: outcome.answer.url,
          bytesSent: call.body?.byteLength ?? 0,
          bytesReceived: outcome.answer.body.byteLength,
        };
        return { answer: outcome.answer, meta };
      }
      if ("aborted" in outcome) throw signal?.reason ?? new DOMException("the call was aborted", "AbortError");
      const { error } = outcome;
      error.attempts = sent;
      const stop = (why: GaveUp): never => {
        error.gaveUp = why;
        throw error;
      };
      if (!outcome.retryable) stop("not-retryable");
      if (attempt >= maxAttempts) stop("max-attempts");
      const after = error instanceof RateLimitedError || error instanceof UnavailableError ? error.retryAfterMs : undefined;
      if (after !== undefined && after > this.retry.maxRetryAfterMs) stop("retry-after");
      if (!this.budget.tryWithdraw()) stop("budget");
      try {
        await sleep(Math.max(backoffMs(attempt, this.retry), after ?? 0), signal);
      } catch {
        throw signal?.reason;
      }
    }
  }

  /**
   * Sends the request to baseUrl and, when hedging, to hedgeUrl as well once baseUrl has not
   * answered within hedgeAfterMs (or failed in a way worth retrying, whichever is first) and the
   * budget has a retry to spend. The first success, or the first failure not worth retrying
   * (a 400 is the same answer everywhere), wins; the other request is aborted.
   */
  private exchange(request: Call, timeoutMs: number, signal: AbortSignal | undefined): Promise<Exchange> {
    return new Promise((resolve) => {
      const running: Array<() => void> = [];
      let pending = 0;
      let done = false;
      let hedgeTried = !this.hedgeUrl || request.probe === true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (outcome: Outcome, hedged: boolean) => {
        done = true;
        if (timer) clearTimeout(timer);
        for (const abort of running) abort();
        resolve({ outcome, sent: running.length, hedged });
      };
      const launch = (url: string, hedged: boolean) => {
        const { done: settled, abort } = this.send(url, request, timeoutMs, signal);
        running.push(abort);
        pending++;
        void settled.then((outcome) => {
          pending--;
          if (done) return;
          // A 429 is this caller's limit wherever it asks: the exchange ends, the retry loop waits.
          if (outcome.ok || "aborted" in outcome || !outcome.retryable || outcome.error.status === 429) return finish(outcome, hedged);
          hedge();
          if (pending === 0) finish(outcome, hedged);
        });
      };
      const hedge = () => {
        if (hedgeTried || done) return;
        hedgeTried = true;
        if (timer) clearTimeout(timer);
        if (this.budget.tryWithdraw()) launch(this.hedgeUrl!, true);
      };
      launch(this.baseUrl, false);
      if (!hedgeTried) timer = setTimeout(hedge, this.hedgeAfterMs);
    });
  }

  /** One HTTP request, read to its end; never rejects. `abort` ends it (a hedge's loser). */
  private send(url: string, request: Call, timeoutMs: number, signal: AbortSignal | undefined): { done: Promise<Outcome>; abort: () => void } {
    const controller = new AbortController();
    let lost = false;
    let timedOut = false;
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const done = (async (): Promise<Outcome> => {
      try {
        const init: RequestInit = { method: request.method, headers: request.headers, signal: controller.signal };
        // Uint8Array<ArrayBufferLike> in some lib typings: the bytes are a plain ArrayBuffer's.
        if (request.body) init.body = request.body as Uint8Array<ArrayBuffer>;
        const res = await this.fetcher(`${url}${request.path}`, init);
        const body = new Uint8Array(await res.arrayBuffer());
        const answer: Answer = { status: res.status, headers: res.headers, body, url };
        if (res.ok) return { ok: true, answer };
        return { ok: false, error: errorFor(res.status, errorBody(body, res.status), res.headers, { url }), retryable: RETRYABLE.has(res.status) };
      } catch (err) {
        if (signal?.aborted || lost) return { ok: false, aborted: true };
        const what = `${request.method} ${request.path.split("?")[0]}`;
        if (timedOut) return { ok: false, error: new NetworkError(`no answer from ${url} within ${timeoutMs} ms (${what})`, true, { url }), retryable: true };
        // fetch hides the useful part (ECONNREFUSED, ECONNRESET…) in `cause`.
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const reason = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
        return { ok: false, error: new NetworkError(`cannot reach ${url}: ${reason} (${what})`, false, { url }, { cause: err }), retryable: true };
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
    })();
    return {
      done,
      abort: () => {
        lost = true;
        controller.abort();
      },
    };
  }
}

function base(url: string): string {
  if (!/^https?:\/\//.test(url)) throw new TypeError(`a base URL starts with http:// or https:// (got "${url}")`);
  return url.replace(/\/+$/, "");
}

function modelPath(model: string, version?: string | number): string {
  const name = `/v2/models/${encodeURIComponent(model)}`;
  return version === undefined ? name : `${name}/versions/${encodeURIComponent(String(version))}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A 2xx whose body is not what the route answers: not retried (the same request gets the same answer). */
function malformed(answer: Answer, attempts: number, err: unknown): MeridianError {
  const body: ErrorBody = { error: `the answer from ${answer.url} is not what was asked for: ${err instanceof Error ? err.message : String(err)}` };
  return new MeridianError(answer.status, body, answer.headers, { url: answer.url, attempts });
}

function json<T extends object>(answer: Answer, attempts: number, check: (value: Record<string, unknown>) => boolean): T {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(answer.body));
  } catch (err) {
    throw malformed(answer, attempts, err);
  }
  if (!value || typeof value !== "object" || !check(value as Record<string, unknown>)) throw malformed(answer, attempts, new Error("unexpected JSON"));
  return value as T;
}
