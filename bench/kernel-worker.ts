/// <reference path="../edge/types.d.ts" />
// Bench Worker for `npm run bench:infer` (bench/wrangler.kernel.toml): onnxruntime-web
// `session.run` timings inside workerd; see bench/kernel/worker.ts for its routes.
import { kernelWorker } from "./kernel/worker";

export default kernelWorker();
