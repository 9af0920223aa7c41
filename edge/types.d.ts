// wrangler's CompiledWasm rule: importing a .wasm file yields a compiled module.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}

// Set by `wrangler --env webgpu` (wrangler.toml [env.webgpu.define]); absent in the WASM build.
declare const __MERIDIAN_WEBGPU__: boolean | undefined;
