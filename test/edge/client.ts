// Small helpers to talk to the Worker under test.
import { SELF } from "cloudflare:test";

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
