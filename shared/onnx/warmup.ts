// The model a runtime is warmed up with: tiny, so its start-up costs only the runtime's own.
import { encodeModel, graph, node, valueInfo } from "./build";

/** The smallest useful model (FP32 x [n] → Identity → y): warms up a runtime cheaply. */
export function identityModel(): Uint8Array {
  return encodeModel(
    graph({
      name: "identity",
      nodes: [node("Identity", ["x"], ["y"], {}, { name: "identity" })],
      inputs: [valueInfo("x", "FP32", [-1])],
      outputs: [valueInfo("y", "FP32", [-1])],
    }),
  );
}
