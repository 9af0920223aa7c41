// What the Node-side global setup hands to tests (vitest provide/inject).
import type { Manifest } from "../../shared/manifest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Fixture models built by test/setup/models.ts; `onnx` is base64. */
    models: Array<{ manifest: Manifest; onnx: string }>;
    /** Another iris (different weights), base64 ONNX. */
    irisV2: string;
    /** iris with its classes rotated (dev/samples/candidates.ts), base64 ONNX. */
    irisWrong: string;
    /** An int8 CNN (seeded weights) and onnxruntime-node's answers for 8 MNIST test digits (test/setup/cnn.ts). */
    cnn: {
      onnx: string;
      rows: number;
      /** The digits, 784 values in [0, 1] per row. */
      x: number[];
      probabilities: number[];
      labels: number[];
      /** The fp32 reference forward pass's probabilities (shared/onnx/cnn.ts cnnForward). */
      fp32: number[];
    };
    /** Features the trainer's code computes in Node for the spam model's preprocessing (base64 FP32). */
    textFeatures: {
      preprocessing: NonNullable<Manifest["preprocessing"]>;
      cases: Array<{ text: string; features: string }>;
    };
  }
}
