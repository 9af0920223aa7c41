// The size-ceiling probe's first module (bench/ceiling-worker.ts imports it before the edge):
// it wraps WebAssembly.instantiate before edge/runtime/ort.ts binds it, so it sees the
// WebAssembly.Memory ort's glue hands the instance (ort makes it itself and passes it as an
// import). Observe only: the same instance is returned.
let memory: WebAssembly.Memory | null = null;

function findMemory(value: unknown, depth = 0): WebAssembly.Memory | null {
  if (value instanceof WebAssembly.Memory) return value;
  if (depth > 1 || !value || typeof value !== "object") return null;
  for (const v of Object.values(value as Record<string, unknown>)) {
    const m = findMemory(v, depth + 1);
    if (m) return m;
  }
  return null;
}

const instantiate = WebAssembly.instantiate.bind(WebAssembly) as (source: unknown, imports?: WebAssembly.Imports) => Promise<unknown>;
(WebAssembly as { instantiate: unknown }).instantiate = async (source: unknown, imports?: WebAssembly.Imports) => {
  const result = await instantiate(source, imports);
  const instance = result instanceof WebAssembly.Instance ? result : (result as { instance: WebAssembly.Instance }).instance;
  memory ??= findMemory(imports) ?? findMemory(instance.exports);
  return result;
};

/** Bytes of ort's WASM heap now (it only grows), or null before the runtime started. */
export function wasmMemoryBytes(): number | null {
  return memory ? memory.buffer.byteLength : null;
}
