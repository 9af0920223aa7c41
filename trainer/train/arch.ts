// Architectures the trainer knows, as a discriminated union. Every one keeps its parameters in
// ONE flat Float32Array (what the optimizer, Redis, checkpoints and bf16 see); the module of an
// architecture (model.ts for the MLP, cnn.ts for the CNN) says what the flat vector means.
import { z } from "zod";

export type MlpArch = {
  kind: "mlp";
  /** [inputs, hidden…, classes]. */
  sizes: number[];
};

/** A 'same'-padded stride-1 convolution with an odd square kernel, relu, then max-pooling (pool 1: none). */
export type ConvSpec = { filters: number; kernel: number; pool: number };

export type CnnArch = {
  kind: "cnn";
  /** [height, width, channels]; a row of the data is this image in NHWC order (h, w, c). */
  input: [number, number, number];
  conv: ConvSpec[];
  /** Hidden dense layers (relu) after the flattened last conv block. */
  dense: number[];
  classes: number;
};

export type Arch = MlpArch | CnnArch;

const positive = z.number().int().positive();
export const ConvSpecSchema = z.object({ filters: positive, kernel: positive, pool: positive });
export const ArchSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("mlp"), sizes: z.array(positive).min(2) }),
  z.object({ kind: z.literal("cnn"), input: z.tuple([positive, positive, positive]), conv: z.array(ConvSpecSchema).min(1), dense: z.array(positive), classes: positive }),
]);

export function mlp(sizes: readonly number[]): MlpArch {
  return { kind: "mlp", sizes: [...sizes] };
}

export function archInputs(a: Arch): number {
  return a.kind === "mlp" ? a.sizes[0]! : a.input[0] * a.input[1] * a.input[2];
}

export function archClasses(a: Arch): number {
  return a.kind === "mlp" ? a.sizes[a.sizes.length - 1]! : a.classes;
}

/** One line for logs and reports: "mlp 784-128-10", "cnn 28x28x1 c16k3p2-c32k3p2 d64 → 10". */
export function describeArch(a: Arch): string {
  if (a.kind === "mlp") return `mlp ${a.sizes.join("-")}`;
  const conv = a.conv.map((c) => `c${c.filters}k${c.kernel}p${c.pool}`).join("-");
  return `cnn ${a.input.join("x")} ${conv}${a.dense.length ? ` d${a.dense.join(",")}` : ""} → ${a.classes}`;
}

/** The CNN `--arch cnn` means: two conv blocks (16 and 32 filters, 3×3, 2×2 max-pool) and a 64-unit dense layer. */
export const DEFAULT_CNN = { conv: [{ filters: 16, kernel: 3, pool: 2 }, { filters: 32, kernel: 3, pool: 2 }], dense: [64] } as const;

export class ArchError extends Error {
  override name = "ArchError";
}

/** Spatial size after each conv block, checked: the pools must leave at least one pixel. */
export function cnnShapes(a: CnnArch): { h: number; w: number; c: number }[] {
  const out: { h: number; w: number; c: number }[] = [];
  let [h, w, c] = a.input;
  for (const [i, s] of a.conv.entries()) {
    if (s.kernel % 2 !== 1) throw new ArchError(`conv ${i}: kernel ${s.kernel} is even ('same' padding needs an odd kernel)`);
    h = Math.floor(h / s.pool);
    w = Math.floor(w / s.pool);
    c = s.filters;
    if (h < 1 || w < 1) throw new ArchError(`conv ${i}: pooling leaves no pixels (input ${a.input.join("x")})`);
    out.push({ h, w, c });
  }
  return out;
}

/**
 * The flat parameter count, from the shapes alone (no TF.js: the coordinator checks gradient
 * lengths with it). Equal to the architecture module's layout (tested).
 */
export function archParamCount(a: Arch): number {
  const dense = (sizes: readonly number[]): number => sizes.slice(1).reduce((n, out, i) => n + (sizes[i]! + 1) * out, 0);
  if (a.kind === "mlp") return dense(a.sizes);
  let channels = a.input[2];
  let n = 0;
  for (const c of a.conv) {
    n += (c.kernel * c.kernel * channels + 1) * c.filters;
    channels = c.filters;
  }
  const last = cnnShapes(a)[a.conv.length - 1]!;
  return n + dense([last.h * last.w * last.c, ...a.dense, a.classes]);
}

export const ARCH_HELP = "mlp | mlp:<hidden,…> | cnn | cnn:<filters,…>[/<dense,…>] (3x3 kernels, 2x2 pools)";

/**
 * `--arch` → an Arch for data with `features` inputs, `classes` classes and, for images, a shape.
 * mlp: [features, hidden…, classes] (`mlp` alone takes `hidden`, the --hidden default);
 * cnn: needs image data (`shape`), e.g. `cnn:16,32/64` = DEFAULT_CNN.
 */
export function parseArch(spec: string, data: { features: number; classes: number; shape?: readonly [number, number, number] }, hidden: readonly number[]): Arch {
  const list = (s: string, what: string): number[] => {
    const parts = s.split(",").map((p) => p.trim());
    if (s.trim() === "" || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw new ArchError(`--arch ${what} takes sizes like 64 or 128,64 (got "${s}")`);
    return parts.map(Number);
  };
  const m = /^(mlp|cnn)(?::(.*))?$/.exec(spec.trim());
  if (!m) throw new ArchError(`unknown --arch "${spec}" (expected ${ARCH_HELP})`);
  if (m[1] === "mlp") return mlp([data.features, ...(m[2] !== undefined ? list(m[2], "mlp") : hidden), data.classes]);
  if (!data.shape) throw new ArchError(`--arch cnn needs image data (a dataset with an image shape, e.g. mnist); this one is ${data.features} flat features`);
  if (data.shape[0] * data.shape[1] * data.shape[2] !== data.features) throw new ArchError(`image shape ${data.shape.join("x")} does not match ${data.features} features`);
  let conv: ConvSpec[] = DEFAULT_CNN.conv.map((c) => ({ ...c }));
  let dense: number[] = [...DEFAULT_CNN.dense];
  if (m[2] !== undefined) {
    const [c, d] = m[2].split("/");
    conv = list(c!, "cnn filters").map((filters) => ({ filters, kernel: 3, pool: 2 }));
    dense = d === undefined ? [] : d.trim() === "" ? [] : list(d, "cnn dense");
  }
  const arch: CnnArch = { kind: "cnn", input: [data.shape[0], data.shape[1], data.shape[2]], conv, dense, classes: data.classes };
  cnnShapes(arch);
  return arch;
}
