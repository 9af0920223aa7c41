// How a shard's gradient travels from a worker to the coordinator. fp32 is exact (the reference);
// bf16 rounds each value to the nearest bfloat16 (ties to even, shared/bf16.ts) and halves the
// bytes. The encoding changes the result, so it is part of a run's identity (runIdFor).
export const GRADIENT_ENCODINGS = ["fp32", "bf16"] as const;
export type GradientEncoding = (typeof GRADIENT_ENCODINGS)[number];

/** Bytes per gradient value on the wire. */
export const GRADIENT_BYTES: Record<GradientEncoding, number> = { fp32: 4, bf16: 2 };
