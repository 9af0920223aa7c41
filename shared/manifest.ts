// The model manifest: one definition, used by the trainer (writes it) and the edge (reads it).
import { z } from "zod";
import { DATATYPES } from "./datatypes";
import { FeatureBindingSchema } from "./features";

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

/** One warm-up request: OIP JSON inputs (as in an infer request), run before a version serves. */
export const WarmupSchema = z.object({
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        datatype: z.enum(DATATYPES),
        shape: z.array(z.number().int().min(1)),
        data: z.array(z.unknown()),
      }),
    )
    .min(1),
});
export type Warmup = z.infer<typeof WarmupSchema>;

/**
 * How the edge serves a version, all opt-in (absent means off, so manifests signed before these
 * settings existed keep their exact bytes and signatures).
 */
export const ServingSchema = z
  .object({
    /** Answers identical requests to this version from a cache (the isolate's, then the PoP's). */
    cache: z
      .object({
        enabled: z.boolean(),
        /** How long the PoP-wide copy is kept (the isolate's is bounded by bytes only). */
        ttlSeconds: z.number().int().min(1).max(86_400).optional(),
        /** Answers larger than this are not cached. */
        maxEntryBytes: z.number().int().min(1).max(1 << 20).optional(),
      })
      .strict()
      .optional(),
    /** Dynamic batching: concurrent requests merged into one run (models whose first dimension is the batch). */
    batching: z
      .object({
        maxBatchSize: z.number().int().min(2).max(4096),
        /** How long the first request of a batch waits for others (Triton's max_queue_delay). */
        maxQueueDelayMs: z.number().min(0).max(100),
        /** A batch that reaches one of these sizes runs at once, without waiting out the delay. */
        preferredBatchSizes: z.array(z.number().int().min(1)).optional(),
      })
      .strict()
      .optional(),
    /** Warm-up requests (else one is generated from the input specs, every dynamic dimension 1). */
    warmup: z.array(WarmupSchema).max(16).optional(),
    /**
     * The publisher lets anyone download this version to run it on their own device (the client's
     * browser mode): its package and artifact are public routes. Absent: never downloadable.
     */
    download: z.boolean().optional(),
  })
  .strict();
export type Serving = z.infer<typeof ServingSchema>;

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
  serving: ServingSchema.optional(),
  /**
   * Feature views whose values the edge reads from the entity's home shard and puts into these
   * inputs (shared/features.ts); absent: the caller sends every input.
   */
  features: z.array(FeatureBindingSchema).min(1).max(16).optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;

export function parseManifest(value: unknown): Manifest {
  return ManifestSchema.parse(value);
}

/** The cache and batching settings of a version, with every default. */
export function servingOf(manifest: Pick<Manifest, "serving">) {
  const s = manifest.serving ?? {};
  return {
    cache: { enabled: s.cache?.enabled ?? false, ttlSeconds: s.cache?.ttlSeconds ?? 3_600, maxEntryBytes: s.cache?.maxEntryBytes ?? 64 << 10 },
    batching: s.batching ? { ...s.batching, preferredBatchSizes: s.batching.preferredBatchSizes ?? [] } : null,
    warmup: s.warmup ?? null,
    download: s.download === true,
  };
}
