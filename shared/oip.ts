// Open Inference Protocol v2 REST bodies (../shared/specs/open_inference_rest.yaml).
import { z } from "zod";
import type { Datatype } from "./datatypes";
import type { TensorValues } from "./tensors";

export const ParametersSchema = z.record(z.string(), z.unknown());

/**
 * tensor_data: numbers, strings or booleans, flat (row-major) or nested. Elements are checked
 * against the model's datatype later (shared/tensors.ts), where the message can name them.
 */
export type TensorData = unknown[];
const TensorDataSchema = z.array(z.unknown());

/** `data` (JSON) or `parameters.binary_data_size` (binary data after the JSON header, shared/binary.ts). */
export const RequestInputSchema = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().min(0)),
    datatype: z.string().min(1),
    parameters: ParametersSchema.optional(),
    data: TensorDataSchema.optional(),
  })
  .refine((i) => (i.data === undefined) !== (i.parameters?.binary_data_size === undefined), {
    message: "give either data or parameters.binary_data_size (binary data after the JSON header), not both or neither",
  });
export type RequestInput = z.infer<typeof RequestInputSchema> & {
  /** The input's binary data, sliced from the body by the edge when it declares binary_data_size. */
  binary?: Uint8Array;
};

export const RequestOutputSchema = z.object({
  name: z.string().min(1),
  parameters: ParametersSchema.optional(),
});

export const InferenceRequestSchema = z.object({
  id: z.string().optional(),
  parameters: ParametersSchema.optional(),
  inputs: z.array(RequestInputSchema).min(1),
  outputs: z.array(RequestOutputSchema).optional(),
});
export type InferenceRequest = Omit<z.infer<typeof InferenceRequestSchema>, "inputs"> & { inputs: RequestInput[] };

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
