// Worker entry.
import { app } from "./app";
import { startRuntime } from "./runtime/ort";

// Pay the WASM start-up while the isolate loads rather than on the first request.
void startRuntime();

export default app;
