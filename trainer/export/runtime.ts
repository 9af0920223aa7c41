// onnxruntime for checking and scoring exported models: onnxruntime-node (native) when it is
// installed (a devDependency here), else onnxruntime-web (WASM, a regular dependency), which
// also runs in Node. Both expose the onnxruntime-common API.
import type * as OrtWeb from "onnxruntime-web";
import type { InputPart } from "../../shared/onnx/split-input";

export type Ort = Pick<typeof OrtWeb, "InferenceSession" | "Tensor">;
export type OrtRuntime = { name: "onnxruntime-node" | "onnxruntime-web"; ort: Ort };

let cached: Promise<OrtRuntime> | undefined;

export function loadOrt(): Promise<OrtRuntime> {
  cached ??= (async () => {
    try {
      const specifier: string = "onnxruntime-node";
      const ort = (await import(specifier)) as Ort;
      return { name: "onnxruntime-node", ort };
    } catch {
      const ort = await import("onnxruntime-web");
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = "error";
      return { name: "onnxruntime-web", ort: ort as unknown as Ort };
    }
  })();
  return cached;
}

/**
 * Runs a model (input [rows × features] → probabilities [rows × classes]) in chunks. With
 * `parts`, the graph takes each part's columns of x as its own input (shared/onnx/split-input.ts).
 */
export async function runProbabilities(
  rt: OrtRuntime,
  bytes: Uint8Array,
  names: { input: string; output: string },
  x: Float32Array,
  rows: number,
  features: number,
  parts: readonly InputPart[] = [{ name: names.input, width: features }],
): Promise<Float32Array> {
  const session = await rt.ort.InferenceSession.create(bytes);
  try {
    const chunk = Math.max(1, Math.floor((1 << 22) / features));
    let out: Float32Array | undefined;
    for (let r = 0; r < rows; r += chunk) {
      const m = Math.min(chunk, rows - r);
      const feeds: Record<string, InstanceType<Ort["Tensor"]>> = {};
      let col = 0;
      for (const p of parts) {
        const data = new Float32Array(m * p.width);
        for (let i = 0; i < m; i++) data.set(x.subarray((r + i) * features + col, (r + i) * features + col + p.width), i * p.width);
        feeds[p.name] = new rt.ort.Tensor("float32", data, [m, p.width]);
        col += p.width;
      }
      const res = await session.run(feeds);
      const probs = res[names.output]!.data as Float32Array;
      out ??= new Float32Array(rows * (probs.length / m));
      out.set(probs, r * (probs.length / m));
    }
    return out ?? new Float32Array();
  } finally {
    await session.release();
  }
}
