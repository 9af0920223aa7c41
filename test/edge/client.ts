// Small helpers to talk to the Worker under test.
import { SELF } from "cloudflare:test";
import { HEADER_LENGTH, decodeResponse, encodeRequest, type TensorInput } from "../../shared/binary";
import type { InferenceResult } from "../../shared/oip";

export const BASE = "http://edge";

export async function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

export async function get(path: string, init: RequestInit = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, init);
}

export interface Output {
  name: string;
  datatype: string;
  shape: number[];
  data: Array<number | string | boolean>;
}
export interface InferBody {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Output[];
}

export const IRIS_ROWS = [
  [5.1, 3.5, 1.4, 0.2], // setosa
  [6.4, 3.2, 4.5, 1.5], // versicolor
  [6.3, 3.3, 6.0, 2.5], // virginica
];

export function irisRequest(rows = IRIS_ROWS, extra: Record<string, unknown> = {}) {
  return {
    inputs: [{ name: "measurements", datatype: "FP32", shape: [rows.length, 4], data: rows.flat() }],
    ...extra,
  };
}

/** An infer request with binary inputs and outputs; the answer decoded to typed outputs. */
export async function inferBinary(
  path: string,
  inputs: TensorInput[],
  opts: { headers?: Record<string, string>; parameters?: Record<string, unknown>; json?: boolean } = {},
): Promise<{ res: Response; result: InferenceResult }> {
  const { body, headerLength } = encodeRequest({ inputs, parameters: { ...opts.parameters, binary_data_output: true } }, () => !opts.json);
  const res = await SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", ...(headerLength === null ? {} : { [HEADER_LENGTH]: String(headerLength) }), ...opts.headers },
    body,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${new TextDecoder().decode(bytes)}`);
  const length = res.headers.get(HEADER_LENGTH);
  return { res, result: decodeResponse(bytes, length === null ? null : Number(length)) };
}

/** An output's values as bytes: what "bit-identical" compares. */
export function outputBytes(result: InferenceResult, name: string): number[] {
  const v = result.outputs.find((o) => o.name === name)!.values as Uint8Array;
  return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
}
