// Hand-assembled WebAssembly peak loops (no toolchain, no binary checked in). Each exported
// function `<op><K>(n: i32) -> f32` runs n iterations of UNROLL steps over K independent f32x4
// accumulators, acc = acc * m + c: "muladd" as f32x4.mul then f32x4.add (what ort-web 1.30's
// SIMD build does), "madd" as one f32x4.relaxed_madd (FMA where the engine has it). Independent
// chains hide the mul→add latency; values stay normal (m < 1, c > 0), so no denormal slow path.
export type PeakOp = "muladd" | "madd";
/** 14 accumulators + m + c fill x64's 16 SIMD registers; beyond that V8 spills. */
export const ACCUMULATORS = [4, 8, 12, 14] as const;
export const UNROLL = 8;
/** Floating-point operations per call iteration: 4 lanes × (mul + add) per accumulator and step. */
export const flopsPerIteration = (k: number) => k * UNROLL * 4 * 2;
export const exportName = (op: PeakOp, k: number) => `${op}${k}`;

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const f32 = (v: number): number[] => [...new Uint8Array(new Float32Array([v]).buffer)];

const SIMD = 0xfd;
const op = {
  localGet: 0x20, localSet: 0x21, localTee: 0x22, f32Const: 0x43, f32Add: 0x92,
  i32Const: 0x41, i32Sub: 0x6b, loop: 0x03, brIf: 0x0d, end: 0x0b, void: 0x40,
  f32x4Splat: [SIMD, ...uleb(0x13)], f32x4ExtractLane: [SIMD, ...uleb(0x1f)],
  f32x4Add: [SIMD, ...uleb(0xe4)], f32x4Mul: [SIMD, ...uleb(0xe6)], f32x4RelaxedMadd: [SIMD, ...uleb(0x105)],
};

function body(kind: PeakOp, k: number): number[] {
  // locals: 0 = n (param), 1..k = accumulators, k+1 = m, k+2 = c
  const m = k + 1, c = k + 2;
  const code: number[] = [];
  const splat = (v: number, local: number) => code.push(op.f32Const, ...f32(v), ...op.f32x4Splat, op.localSet, local);
  for (let i = 1; i <= k; i++) splat(i / k, i);
  splat(0.999999, m);
  splat(1e-6, c);
  code.push(op.loop, op.void);
  for (let u = 0; u < UNROLL; u++) {
    for (let i = 1; i <= k; i++) {
      if (kind === "muladd") code.push(op.localGet, i, op.localGet, m, ...op.f32x4Mul, op.localGet, c, ...op.f32x4Add);
      else code.push(op.localGet, i, op.localGet, m, op.localGet, c, ...op.f32x4RelaxedMadd);
      code.push(op.localSet, i);
    }
  }
  code.push(op.localGet, 0, op.i32Const, 1, op.i32Sub, op.localTee, 0, op.brIf, 0, op.end);
  // Sum one lane of each accumulator: the result depends on every chain.
  code.push(op.f32Const, ...f32(0));
  for (let i = 1; i <= k; i++) code.push(op.localGet, i, ...op.f32x4ExtractLane, 0, op.f32Add);
  code.push(op.end);
  const locals = vec([[...uleb(k + 2), 0x7b]]); // k + 2 locals of type v128
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

/** A module exporting `<kind><K>` for every K in ACCUMULATORS; call with n ≥ 1 (the loop runs before it tests). */
export function peakModule(kind: PeakOp): Uint8Array<ArrayBuffer> {
  const ks = [...ACCUMULATORS];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, vec([[0x60, 1, 0x7f, 1, 0x7d]])), // type 0: (i32) -> f32
    ...section(3, vec(ks.map(() => [0]))),
    ...section(7, vec(ks.map((k, i) => [...name(exportName(kind, k)), 0x00, ...uleb(i)]))),
    ...section(10, vec(ks.map((k) => body(kind, k)))),
  ];
  return new Uint8Array(bytes);
}

/** The exported loop `<op><K>` of an instance of peakModule(op). */
export function peakFunction(module: WebAssembly.Module, op: PeakOp, accumulators: number): (n: number) => number {
  const fn = new WebAssembly.Instance(module).exports[exportName(op, accumulators)];
  if (typeof fn !== "function") throw new Error(`no ${exportName(op, accumulators)} export`);
  return fn as (n: number) => number;
}
