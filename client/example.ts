// The client library against a running edge: `npm start`, then `npx tsx client/example.ts`
// (MERIDIAN_URL for another edge). Its output is pasted in the README ("Client library").
import { InvalidInputError, MeridianClient, NotFoundError } from "./index";

const client = new MeridianClient({ baseUrl: process.env.MERIDIAN_URL ?? "http://127.0.0.1:8787" });
/** A typed array on one line: its type and its values. */
const show = (values: ArrayLike<unknown>) => `${values.constructor.name} [${Array.from(values, String).join(", ")}]`;

// Typed tensors in and out; the same call as JSON or as binary tensor data.
const measurements = Float32Array.of(5.1, 3.5, 1.4, 0.2, 6.3, 3.3, 6.0, 2.5);
for (const encoding of ["json", "binary"] as const) {
  const answer = await client.infer("iris", {
    id: `demo-${encoding}`,
    inputs: [{ name: "measurements", datatype: "FP32", shape: [2, 4], values: measurements }],
    encoding,
    binaryOutputs: encoding === "binary",
  });
  const { result } = answer;
  console.log(`iris (${encoding}): id ${answer.id}, v${answer.version} ${answer.variant} at ${answer.pop} on ${answer.backend}, ${answer.bytesSent} B sent, ${answer.bytesReceived} B received`);
  console.log(`  probabilities ${show(result.output("probabilities").values)}`);
  console.log(`  label ${show(result.output("label").values)}`);
}

// A batch of 64 rows of 784 features: what the encoding costs on the wire.
const pixels = Float32Array.from({ length: 64 * 784 }, (_, i) => Math.sin(i));
for (const encoding of ["json", "binary"] as const) {
  const answer = await client.infer("mlp784", { inputs: [{ name: "pixels", datatype: "FP32", shape: [64, 784], values: pixels }], encoding, binaryOutputs: encoding === "binary" });
  console.log(`mlp784 × 64 (${encoding}): ${answer.bytesSent} B sent, ${answer.bytesReceived} B received, labels ${answer.result.data("label").slice(0, 8).join(",")}…`);
}

// Plain arrays are converted by datatype: 64-bit integers beyond 2^53 and FP16 round-trip exactly.
const echo = await client.infer("dtypes", {
  inputs: [
    { name: "x_int64", datatype: "INT64", shape: [2], values: [2n ** 63n - 1n, -42n] },
    { name: "x_fp16", datatype: "FP16", shape: [2], values: [0.1, 65504] },
    ...(["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "FP32", "FP64"] as const).map((datatype) => ({ name: `x_${datatype.toLowerCase()}`, datatype, shape: [1], values: [datatype === "BOOL" ? true : 1] })),
    { name: "x_bytes", datatype: "BYTES", shape: [1], values: ["ünïcode ✓"] },
  ],
  outputs: [{ name: "y_int64" }, { name: "y_fp16" }, { name: "y_bytes" }],
  encoding: "binary",
  binaryOutputs: true,
});
for (const o of echo.result.outputs) console.log(`dtypes ${o.name} ${o.datatype}: ${show(o.values)}, as JSON ${JSON.stringify(echo.result.data(o.name))}`);

// /v1/predict: rows (or texts) in, one prediction per row with its class.
const spam = await client.predict("spam-int8", ["WIN a FREE cruise!!! Claim your $500 prize now, click here"]);
console.log(`spam-int8: ${spam.predictions[0]!.class} ${JSON.stringify(spam.predictions[0]!.probabilities)}`);

// Typed errors from the edge's {"error"} answers; a 4xx is never retried.
try {
  await client.infer("iris", { inputs: [{ name: "measurements", datatype: "FP64", shape: [1, 4], values: [1, 2, 3, 4] }] });
} catch (err) {
  if (!(err instanceof InvalidInputError)) throw err;
  console.log(`${err.name} ${err.status}: ${err.body.error} (attempts: ${err.attempts})`);
}
try {
  await client.metadata("no-such-model");
} catch (err) {
  if (!(err instanceof NotFoundError)) throw err;
  console.log(`${err.name} ${err.status}: ${err.body.error}`);
}
