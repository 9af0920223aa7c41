// Worker entry (WASM build).
import ortWasm from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import { app } from "./app";
import { startRuntime, useOrtWasm } from "./runtime/ort";

useOrtWasm(ortWasm);
// Pay the WASM start-up while the isolate loads rather than on the first request.
void startRuntime();

export { RegistryDO } from "./versions/registry-do";
export { ShardDO } from "./callers/shard-do";
export { HomeDO } from "./callers/homes";
export { ReplicaDO } from "./features/replica-do";
export { MetricsDO } from "./metrics/aggregator-do";
export default app;
