// Small graphs the workerd tests publish.
import { encodeModel, floatTensor, graph, node, valueInfo } from "../../shared/onnx/build";

/** Gathers from a 3-element table [10, 20, 30] by caller-given INT64 indices: an index past it fails the run. */
export const lookupModel = (): Uint8Array =>
  encodeModel(
    graph({
      name: "lookup",
      nodes: [node("Gather", ["table", "idx"], ["value"])],
      inputs: [valueInfo("idx", "INT64", ["batch"])],
      outputs: [valueInfo("value", "FP32", ["batch"])],
      initializers: [floatTensor("table", [3], [10, 20, 30])],
    }),
  );
