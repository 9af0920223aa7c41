// The model manifest: one definition, used by the trainer (writes it) and the edge (reads it).
import { z } from "zod";
import { DATATYPES } from "./datatypes";

export const MODEL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  datatype: z.enum(DATATYPES),
  /** -1 marks a dynamic dimension. */
  shape: z.array(z.number().int().min(-1)),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export const QuantizationSchema = z.enum(["none", "int8-qlinear", "int8-dynamic", "int8-qdq"]);
export type Quantization = z.infer<typeof QuantizationSchema>;

export const PreprocessingSchema = z.object({
  /** Featurizer id from shared/ (the same code runs on both sides). */
  id: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
});

export const ManifestSchema = z.object({
  name: z.string().regex(MODEL_NAME, "model name must match [a-z0-9][a-z0-9_-]{0,63}"),
  version: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex characters"),
  size: z.number().int().positive(),
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
  quantization: QuantizationSchema,
  preprocessing: PreprocessingSchema.nullable().default(null),
  /** Output name → class labels, for the convenience API. */
  labels: z.record(z.string(), z.array(z.string())).default({}),
  metrics: z.record(z.string(), z.number()).default({}),
  createdAt: z.string().datetime(),
});
export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

export function parseManifest(value: unknown): Manifest {
  return ManifestSchema.parse(value);
}
