// Open Inference Protocol v2 REST bodies (../shared/specs/open_inference_rest.yaml).
import type { z } from "zod";
import type { Datatype } from "./datatypes";
import type { TensorValues } from "./tensors";

export type Parameters = Record<string, unknown>;

/**
 * tensor_data: numbers, strings or booleans, flat (row-major) or nested. Elements are checked
 * against the model's datatype later (shared/tensors.ts), where the message can name them.
 */
export type TensorData = unknown[];

export interface RequestInput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Parameters;
  /** JSON data; absent when the input declares `parameters.binary_data_size` instead. */
  data?: TensorData;
  /** The input's binary data, sliced from the body by the edge when it declares binary_data_size. */
  binary?: Uint8Array;
}

export interface RequestOutput {
  name: string;
  parameters?: Parameters;
}

export interface InferenceRequest {
  id?: string;
  parameters?: Parameters;
  inputs: RequestInput[];
  outputs?: RequestOutput[];
}

/** A request body that is not an OIP inference request; the message names the field at fault. */
export class RequestShapeError extends Error {
  override name = "RequestShapeError";
}

/**
 * Checks the structure of an inference request (not its tensor data: shared/tensors.ts checks
 * that against the model). Written out rather than a schema: it runs on every prediction, and
 * a schema library's generic walk cost more than the model's run for small models.
 */
export function parseInferenceRequest(body: unknown, opts: { noInputs?: boolean } = {}): InferenceRequest {
  const request = object(body, "the request");
  optional(request, "id", "string", "id");
  parameters(request.parameters, "parameters");
  // A model whose every input the edge fills (feature views) takes a request without any.
  if (opts.noInputs && request.inputs === undefined) request.inputs = [];
  if (!Array.isArray(request.inputs) || (request.inputs.length === 0 && !opts.noInputs)) throw new RequestShapeError("inputs: expected a non-empty array of input tensors");
  request.inputs.forEach((value, i) => {
    const at = `inputs.${i}`;
    const input = object(value, at);
    name(input.name, `${at}.name`);
    if (typeof input.datatype !== "string" || input.datatype === "") throw new RequestShapeError(`${at}.datatype: expected a datatype name`);
    if (!Array.isArray(input.shape)) throw new RequestShapeError(`${at}.shape: expected an array of dimensions`);
    input.shape.forEach((d, k) => {
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) throw new RequestShapeError(`${at}.shape.${k}: expected a non-negative integer`);
    });
    parameters(input.parameters, `${at}.parameters`);
    if (input.data !== undefined && !Array.isArray(input.data)) throw new RequestShapeError(`${at}.data: expected an array`);
    const binary = (input.parameters as Parameters | undefined)?.binary_data_size !== undefined;
    if ((input.data === undefined) === !binary) {
      throw new RequestShapeError(`${at}: give either data or parameters.binary_data_size (binary data after the JSON header), not both or neither`);
    }
  });
  if (request.outputs !== undefined) {
    if (!Array.isArray(request.outputs)) throw new RequestShapeError("outputs: expected an array");
    request.outputs.forEach((value, i) => {
      const output = object(value, `outputs.${i}`);
      name(output.name, `outputs.${i}.name`);
      parameters(output.parameters, `outputs.${i}.parameters`);
    });
  }
  return request as unknown as InferenceRequest;
}

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new RequestShapeError(`${at}: expected a JSON object`);
  return value as Record<string, unknown>;
}

function name(value: unknown, at: string): void {
  if (typeof value !== "string" || value === "") throw new RequestShapeError(`${at}: expected a non-empty string`);
}

function optional(o: Record<string, unknown>, key: string, type: "string", at: string): void {
  if (o[key] !== undefined && typeof o[key] !== type) throw new RequestShapeError(`${at}: expected a ${type}`);
}

function parameters(value: unknown, at: string): void {
  if (value !== undefined) object(value, at);
}

export interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Record<string, unknown>;
  data: Array<number | string | boolean>;
}

/** An output as the runtime produced it: typed values, encoded as JSON or binary at the route. */
export interface OutputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  /** FP16 as raw half-float bits (Uint16Array); BYTES as strings. */
  values: TensorValues;
}

/** An inference's answer before it is encoded. */
export interface InferenceResult {
  model_name: string;
  model_version: string;
  id?: string;
  /** Response parameters (what the edge added to the request, e.g. its feature values' provenance). */
  parameters?: Record<string, string | number | boolean>;
  outputs: OutputTensor[];
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: ResponseOutput[];
}

/** First zod issue as one readable line, e.g. `inputs.0.shape.1: expected int`. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid request";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
