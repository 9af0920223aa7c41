// Raw text for text models: a model whose manifest names preprocessing also takes its input as
// BYTES [n] or [n, 1], one string per row, featurized here by the same shared code the trainer
// used, so the edge and the trainer see identical features.
import { decodeBinaryTensor } from "../../shared/binary";
import { featurizeBatch, type Featurizer } from "../../shared/featurize";
import type { RequestInput } from "../../shared/oip";
import { decodeTensor } from "../../shared/tensors";
import { InvalidInput, PayloadTooLarge } from "../errors";
import { ort } from "./ort";

/** Features are float32 [n, dimensions]: this bounds one request's feature matrix (Workers have 128 MB). */
export const MAX_TEXT_FEATURE_BYTES = 32 << 20;

export function featurizeInput(featurizer: Featurizer, input: RequestInput): ort.Tensor {
  const { name, shape } = input;
  const [rows = 0, width = 1] = shape;
  if (shape.length < 1 || shape.length > 2 || width !== 1 || rows < 1) {
    throw new InvalidInput(`input "${name}": raw text goes as BYTES [n] or [n, 1] with one string per row, not [${shape.join(", ")}]`);
  }
  const D = featurizer.dimensions;
  const maxRows = Math.floor(MAX_TEXT_FEATURE_BYTES / (4 * D));
  if (rows > maxRows) {
    throw new PayloadTooLarge(`input "${name}": ${rows} texts are more than this model takes in one request (${maxRows}: ${D} features each, ${MAX_TEXT_FEATURE_BYTES >> 20} MiB in all); split the batch`);
  }
  const texts = (input.binary ? decodeBinaryTensor(`input "${name}"`, "BYTES", shape, input.binary) : decodeTensor(name, "BYTES", shape, input.data ?? [])).values as string[];
  return new ort.Tensor("float32", featurizeBatch(featurizer, texts), [rows, D]);
}
