// Worker entry for the WebGPU build (`npm run webgpu`): ort's JSEP .wasm carries both the
// WebGPU and the WASM execution providers; runtime/ort.ts picks WebGPU where navigator.gpu exists.
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm";
import { app } from "./app";
import { startRuntime, useOrtWasm } from "./runtime/ort";

useOrtWasm(ortWasm);
void startRuntime();

export default app;
