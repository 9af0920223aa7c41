/// <reference path="../edge/types.d.ts" />
// Size-ceiling probe for `npm run bench:ceiling`: the edge Worker unchanged, plus GET
// /_bench/memory, the size of ort's WASM heap in this isolate (the JS heap is read through the
// inspector by the bench).
import { wasmMemoryBytes } from "./ceiling-probe";
import edge from "../edge/index";
import { runtimeState } from "../edge/runtime/ort";
import type { Env } from "../edge/env";

export { HomeDO, MetricsDO, RegistryDO, ReplicaDO, ShardDO } from "../edge/index";

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
    if (new URL(request.url).pathname === "/_bench/memory") return Response.json({ wasmMemoryBytes: wasmMemoryBytes(), runtime: runtimeState() });
    return edge.fetch(request, env, ctx);
  },
};
