// The CNN fixture for the workerd tests: an int8 graph from shared/onnx/cnn.ts with seeded weights,
// calibrated on MNIST training digits, and onnxruntime-node's answers for 8 test digits (with
// x64quantprecision, so its u8·s8 sums are exact like onnxruntime-web's on CPUs without VNNI).
import * as ortNode from "onnxruntime-node";
import { buildCnnInt8, cnnForward, cnnWeights } from "../../shared/onnx/cnn";
import { loadMnistPart } from "../../trainer/data/mnist";

export const CNN_FIXTURE = { image: [28, 28, 1] as [number, number, number], conv: [{ filters: 8, kernel: 3, pool: 2 }, { filters: 16, kernel: 3, pool: 2 }], dense: [32, 10], seed: 13 };

export async function cnnFixture() {
  const spec = cnnWeights(CNN_FIXTURE.image, CNN_FIXTURE.conv, CNN_FIXTURE.dense, CNN_FIXTURE.seed);
  const train = loadMnistPart("train");
  const test = loadMnistPart("test");
  const bytes = buildCnnInt8(spec, train.x.subarray(0, 256 * 784), 256);
  const rows = 8;
  const x = test.x.slice(0, rows * 784);
  const session = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1, extra: { session: { x64quantprecision: "1" } } });
  try {
    const out = await session.run({ features: new ortNode.Tensor("float32", x, [rows, 784]) });
    return {
      onnx: Buffer.from(bytes).toString("base64"),
      rows,
      x: Array.from(x),
      probabilities: Array.from(out.probabilities!.data as Float32Array),
      labels: Array.from(out.label!.data as BigInt64Array, Number),
      fp32: Array.from(cnnForward(spec, x, rows).probabilities),
    };
  } finally {
    await session.release();
  }
}
