import { describe, expect, it } from "vitest";
import { grouped, modelSizeRefusal } from "./limits";

describe("modelSizeRefusal", () => {
  const limits = { maxModelBytes: 11 << 20, maxArtifactBytes: 32 << 20 };

  it("takes a model up to the ceiling, and names both sizes above it", () => {
    expect(modelSizeRefusal(11 << 20, limits)).toBeNull();
    expect(modelSizeRefusal(71_234_567, limits)).toBe(
      "model is 71,234,567 bytes; a PoP serves models up to 11,534,336 bytes (MAX_MODEL_BYTES: one 128 MB isolate must hold the served version and the next one loading beside it)",
    );
  });

  it("names the smaller limit the model is over: the one it has to get under", () => {
    const smallUploads = { maxModelBytes: 11 << 20, maxArtifactBytes: 2 << 20 };
    expect(modelSizeRefusal(3 << 20, smallUploads)).toBe("model is 3,145,728 bytes; this edge takes uploads up to 2,097,152 bytes (MAX_ARTIFACT_BYTES)");
    expect(modelSizeRefusal(20 << 20, smallUploads)).toMatch(/uploads up to 2,097,152 bytes \(MAX_ARTIFACT_BYTES\)$/);
    // Registering bytes already stored: only the ceiling applies.
    expect(modelSizeRefusal(3 << 20, { maxModelBytes: 11 << 20 })).toBeNull();
    expect(modelSizeRefusal(12 << 20, { maxModelBytes: 11 << 20 })).toMatch(/^model is 12,582,912 bytes; a PoP serves models up to 11,534,336 bytes/);
  });

  it("groups thousands", () => {
    expect([0, 999, 1000, 1_048_576, 128_000_000].map(grouped)).toEqual(["0", "999", "1,000", "1,048,576", "128,000,000"]);
  });
});
