// Mutations of valid OIP inference bodies: shapes, datatypes, values, nesting, names, outputs,
// parameters and the request's own structure.
import { DATATYPES, INTEGER_RANGE, type Datatype } from "../../../shared/datatypes";
import { Raw, nestedArrays, nestedObjects, objectWith, toJson, type Json } from "../json";
import type { Rng } from "../prng";
import { isText, validInput, validOip, validTexts, type JsonObject, type ModelInfo, type OipRequest } from "../valid";
import { inferDraft, mutatedOip, oneOf, pickByName, pickModel, someInput, type Kind } from "./common";

const HUGE_DIMS = [2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e15, 1e300, Number.MAX_VALUE];
const shapeOf = (input: JsonObject): number[] => (Array.isArray(input.shape) ? (input.shape as number[]) : []);

const shape: Kind = {
  name: "shape",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req) => {
      const input = someInput(rng, req);
      const dims = shapeOf(input);
      const at = rng.int(0, Math.max(0, dims.length - 1));
      const withDim = (v: Json): Json[] => dims.map((d, i) => (i === at ? v : d));
      return `shape: ${oneOf<[]>(rng, [
        ["negative dimension", () => (input.shape = withDim(-rng.int(1, 1_000_000)))],
        ["minus one (dynamic marker)", () => (input.shape = withDim(-1))],
        ["zero dimension", () => (input.shape = withDim(0))],
        ["-0 literal", () => (input.shape = withDim(new Raw("-0")))],
        ["fractional dimension", () => (input.shape = withDim(rng.pick([0.5, 1.5, 3.999, 1e-300])))],
        ["huge dimension", () => (input.shape = withDim(rng.pick(HUGE_DIMS)))],
        ["1e400 literal (Infinity)", () => (input.shape = withDim(new Raw("1e400")))],
        ["product overflows 2^53", () => (input.shape = dims.map(() => 2 ** 31))],
        ["empty shape (scalar)", () => (input.shape = [])],
        ["rank + 1", () => (input.shape = [...dims, 1])],
        ["rank - 1", () => (input.shape = dims.slice(1))],
        ["string dimensions", () => (input.shape = dims.map(String))],
        ["null dimension", () => (input.shape = withDim(null))],
        ["boolean dimension", () => (input.shape = withDim(true))],
        ["shape is an object", () => (input.shape = { 0: 1 })],
        ["shape is null", () => (input.shape = null)],
        ["shape missing", () => delete input.shape],
        ["nested shape", () => (input.shape = dims.map((d) => [d]))],
        ["product does not match data", () => (input.shape = withDim((dims[at] ?? 1) + rng.int(1, 5)))],
        ["fixed dimension wrong, product matches", () => (input.shape = dims.length === 2 ? [dims[0]! * dims[1]!, 1] : [...dims, 1])],
        ["100,000 dimensions", () => (input.shape = Array.from({ length: 100_000 }, () => 1))],
      ])}`;
    }),
};

const datatype: Kind = {
  name: "datatype",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req) => {
      const input = someInput(rng, req);
      const other = rng.pick(DATATYPES.filter((d) => d !== input.datatype));
      return `datatype: ${oneOf<[]>(rng, [
        [`another OIP datatype (${other})`, () => (input.datatype = other)],
        ["lowercase", () => (input.datatype = String(input.datatype).toLowerCase())],
        ["unknown name", () => (input.datatype = rng.pick(["INT128", "FLOAT32", "STRING", "BF16", "FP8", "UINT1", "COMPLEX64"]))],
        ["trailing space", () => (input.datatype = `${String(input.datatype)} `)],
        ["empty string", () => (input.datatype = "")],
        ["number", () => (input.datatype = 1)],
        ["null", () => (input.datatype = null)],
        ["array", () => (input.datatype = [input.datatype ?? "FP32"])],
        ["missing", () => delete input.datatype],
        ["10,000 characters", () => (input.datatype = "X".repeat(10_000))],
        ["__proto__", () => (input.datatype = "__proto__")],
      ])}`;
    }),
};

/** Values just outside, or far outside, what each datatype holds (and a few boundaries that fit). */
function outOfRange(rng: Rng, dt: Datatype): [string, Json] {
  const range = INTEGER_RANGE[dt];
  if (range) {
    const [lo, hi] = range;
    const wide = dt === "INT64" || dt === "UINT64";
    const asNum = (b: bigint): Json => (wide ? new Raw(b.toString()) : Number(b));
    return rng.pick<[string, Json]>([
      ["min - 1", asNum(lo - 1n)],
      ["max + 1", asNum(hi + 1n)],
      ["min - 1 as a string", (lo - 1n).toString()],
      ["max + 1 as a string", (hi + 1n).toString()],
      ["max (fits)", wide ? hi.toString() : Number(hi)],
      ["min (fits)", wide ? lo.toString() : Number(lo)],
      ["fraction", rng.pick([0.5, -0.5, 1.0000001])],
      ["1e300", 1e300],
      ["1e400 literal", new Raw("1e400")],
      ["-1e400 literal", new Raw("-1e400")],
      ["400-digit literal", new Raw(`1${"0".repeat(400)}`)],
      ["-0 literal", new Raw("-0")],
      ["1E2 literal", new Raw("1E2")],
      ["2^53 + 1 literal", new Raw("9007199254740993")],
      ["21-digit string", "123456789012345678901"],
      ["string with spaces", " 1"],
      ["string with plus sign", "+1"],
      ["hex string", "0x10"],
      ["exponent string", "1e3"],
      ["decimal-point string", "1.0"],
      ["empty string", ""],
      ["boolean", true],
      ["null", null],
    ]);
  }
  switch (dt) {
    case "FP16":
      return rng.pick<[string, Json]>([["65520 (above FP16 max)", 65520], ["-1e5", -1e5], ["65504 (max, fits)", 65504], ["6e-8 (subnormal)", 6e-8], ["1e400 literal", new Raw("1e400")], ["string", "1.5"]]);
    case "FP32":
      return rng.pick<[string, Json]>([["3.5e38 (above FP32 max)", 3.5e38], ["-3.5e38", -3.5e38], ["FP64 max", Number.MAX_VALUE], ["1e39 literal", new Raw("1e39")], ["-1e400 literal", new Raw("-1e400")], ["1e-46 (underflows)", 1e-46], ["3.4028235e38 (max, rounds)", 3.4028235e38], ["3.4e38 (fits)", 3.4e38], ["-3.4e38 (fits)", -3.4e38], ["string", "2.5"]]);
    case "FP64":
      return rng.pick<[string, Json]>([["1.8e308 literal (Infinity)", new Raw("1.8e308")], ["-1e309 literal", new Raw("-1e309")], ["5e-325 literal (0)", new Raw("5e-325")], ["max (fits)", Number.MAX_VALUE], ["boolean", false]]);
    case "BOOL":
      return rng.pick<[string, Json]>([["0", 0], ["1", 1], ['"true"', "true"], ["null", null], ["2", 2]]);
    default:
      return rng.pick<[string, Json]>([["number", 1], ["boolean", true], ["null", null], ["object", {}], ["array", []]]);
  }
}

/** Puts `value` at a random element of a flat copy of the input's data. */
function plant(rng: Rng, input: JsonObject, value: Json): void {
  const flat = (input.data as Json[]).flat() as Json[];
  flat[rng.int(0, flat.length - 1)] = value;
  input.data = flat;
}

const range: Kind = {
  name: "range",
  make: (rng, ctx) => {
    // The datatype echo model has one input per datatype; the others take FP32.
    const model = rng.chance(0.75) ? pickByName(ctx, "dtypes") : pickModel(rng, ctx);
    return mutatedOip(
      rng,
      ctx,
      (req) => {
        const input = someInput(rng, req);
        const dt = input.datatype as Datatype;
        const [label, value] = outOfRange(rng, dt === "BYTES" && isText(model) ? "FP32" : dt);
        plant(rng, input, value);
        return `range: ${dt} ${label}`;
      },
      model,
    );
  },
};

const NAN_LIKE: ReadonlyArray<[string, Json]> = [
  ['"NaN"', "NaN"],
  ['"nan"', "nan"],
  ['"-NaN"', "-NaN"],
  ['"Infinity"', "Infinity"],
  ['"-Infinity"', "-Infinity"],
  ['"inf"', "inf"],
  ['"1e999"', "1e999"],
  ['"NaN "', "NaN "],
  ['""', ""],
  ["null", null],
  ["NaN literal", new Raw("NaN")],
  ["Infinity literal", new Raw("Infinity")],
  ["-Infinity literal", new Raw("-Infinity")],
  ["undefined literal", new Raw("undefined")],
];

const nan: Kind = {
  name: "nan",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req) => {
      const input = someInput(rng, req);
      const [label, value] = rng.pick(NAN_LIKE);
      plant(rng, input, value);
      return `NaN-ish: ${label} in ${String(input.datatype)}`;
    }),
};

const elements: Kind = {
  name: "elements",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req) => {
      const input = someInput(rng, req);
      const flat = () => (input.data as Json[]).flat() as Json[];
      return `elements: ${oneOf<[]>(rng, [
        ["object element", () => plant(rng, input, { value: 1 })],
        ["array element in flat data", () => plant(rng, input, [1, 2])],
        ["ragged rows", () => (input.data = [flat().slice(0, 1), flat().slice(1)])],
        ["one element too many", () => (input.data = [...flat(), flat()[0] ?? 0])],
        ["one element too few", () => (input.data = flat().slice(1))],
        ["empty data", () => (input.data = [])],
        ["data is a string", () => (input.data = "1,2,3,4")],
        ["data is an object", () => (input.data = { 0: 1 })],
        ["data is a number", () => (input.data = 1)],
        ["data is null", () => (input.data = null)],
        ["data missing", () => delete input.data],
        ["10x the elements", () => (input.data = Array.from({ length: 10 }, flat).flat())],
        ["empty nested arrays", () => (input.data = [[], [], flat()])],
        ["binary_data_size parameter, no data", () => ((input.parameters = { binary_data_size: 16 }), delete input.data)],
      ])}`;
    }),
};

const DEPTHS = [100, 1_000, 10_000, 50_000, 100_000, 200_000, 400_000];

const deep: Kind = {
  name: "deep",
  make: (rng, ctx) => {
    const depth = rng.pick(DEPTHS);
    const model = pickModel(rng, ctx);
    const req = validOip(rng, model);
    const input = someInput(rng, req);
    const inner = input.datatype === "BYTES" ? '"text"' : input.datatype === "BOOL" ? "true" : "1";
    // A shape the model takes (dynamic dimensions 1), so the data itself is what gets read.
    const oneRow = () => shapeOf(input).map((d, i) => (i === 0 ? 1 : d));
    let body: Json = req;
    const label = oneOf<[]>(rng, [
      ["data arrays", () => ((input.data = nestedArrays(depth, inner)), (input.shape = oneRow()))],
      // The other elements valid and the count right, so the element itself is what is judged.
      ["objects as one data element", () => (input.data = [nestedObjects(depth), ...((input.data as Json[]).flat() as Json[]).slice(1)])],
      ["arrays inside request parameters", () => (req.parameters = { p: nestedArrays(depth) })],
      ["objects as request parameters", () => (req.parameters = nestedObjects(depth))],
      ["objects as input parameters", () => (input.parameters = nestedObjects(depth))],
      ["arrays as the request id", () => (req.id = nestedArrays(depth))],
      ["objects as the classification parameter", () => (req.outputs = [{ name: model.outputs[0]!.name, parameters: { classification: nestedObjects(depth) } }])],
      ["arrays as the shape", () => (input.shape = nestedArrays(depth))],
      ["arrays as the whole body", () => (body = nestedArrays(depth))],
    ]);
    return inferDraft(rng, model, `deep: ${label}, ${depth} levels`, body);
  },
};

const names: Kind = {
  name: "names",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req, model) => {
      const input = someInput(rng, req);
      const spec = model.inputs[0]!;
      return `names: ${oneOf<[]>(rng, [
        ["unknown input name", () => (input.name = `${String(input.name)}_x`)],
        ["case changed", () => (input.name = String(input.name).toUpperCase())],
        ["empty name", () => (input.name = "")],
        ["name is a number", () => (input.name = 7)],
        ["name missing", () => delete input.name],
        ["__proto__", () => (input.name = "__proto__")],
        ["constructor", () => (input.name = "constructor")],
        ["hasOwnProperty", () => (input.name = "hasOwnProperty")],
        ["10,000-character name", () => (input.name = "n".repeat(10_000))],
        ["input given twice", () => req.inputs.push(validInput(rng, spec, 1))],
        ["one input missing", () => req.inputs.pop()],
        ["no inputs", () => (req.inputs = [])],
        ["inputs is an object", () => ((req as JsonObject).inputs = { [spec.name]: input })],
        ["input is a string", () => ((req.inputs as Json[])[0] = "input")],
        ["input is null", () => ((req.inputs as Json[])[0] = null)],
        ["1,000 copies of the input", () => (req.inputs = Array.from({ length: 1000 }, () => input))],
      ])}`;
    }),
};

const outputs: Kind = {
  name: "outputs",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req, model) => {
      const known = model.outputs[0]!.name;
      return `outputs: ${oneOf<[]>(rng, [
        ["unknown output", () => (req.outputs = [{ name: "nope" }])],
        ["empty list", () => (req.outputs = [])],
        ["same output twice", () => (req.outputs = [{ name: known }, { name: known }])],
        ["output name is a number", () => (req.outputs = [{ name: 1 }])],
        ["output name empty", () => (req.outputs = [{ name: "" }])],
        ["output without a name", () => (req.outputs = [{}])],
        ["outputs is an object", () => (req.outputs = { name: known })],
        ["outputs is a string", () => (req.outputs = known)],
        ["outputs is null", () => (req.outputs = null)],
        ["output is a string", () => (req.outputs = [known])],
        ["output parameters not an object", () => (req.outputs = [{ name: known, parameters: [1, 2] }])],
        ["10,000 outputs", () => (req.outputs = Array.from({ length: 10_000 }, () => ({ name: known })))],
        ["input name as output", () => (req.outputs = [{ name: model.inputs[0]!.name }])],
        ["__proto__ output", () => (req.outputs = [{ name: "__proto__" }])],
      ])}`;
    }),
};

const CLASSIFICATION_VALUES: ReadonlyArray<[string, Json]> = [
  ["0", 0],
  ["-1", -1],
  ["1.5", 1.5],
  ['"2"', "2"],
  ["1e308", 1e308],
  ["2^53", 2 ** 53],
  ["1e400 literal", new Raw("1e400")],
  ["true", true],
  ["null", null],
  ["{}", {}],
  ["[]", []],
  ['"NaN"', "NaN"],
  ["1 (valid)", 1],
  ["3 (valid)", 3],
  ["1000 (more than the classes)", 1000],
];

const classification: Kind = {
  name: "classification",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req, model) => {
      const out = rng.pick(model.outputs);
      const [label, value] = rng.pick(CLASSIFICATION_VALUES);
      req.outputs = [{ name: out.name, parameters: { classification: value } }];
      if (rng.chance(0.2)) req.parameters = { classification: value };
      return `classification: ${label} on ${out.name} (${out.datatype} [${out.shape.join(", ")}])`;
    }),
};

const parameters: Kind = {
  name: "parameters",
  make: (rng, ctx) =>
    mutatedOip(rng, ctx, (req) => {
      const input = someInput(rng, req);
      const target = rng.chance(0.5) ? "request" : "input";
      const set = (v: Json) => (target === "request" ? (req.parameters = v) : (input.parameters = v));
      return `parameters (${target}): ${oneOf<[]>(rng, [
        ["array", () => set([1, 2])],
        ["string", () => set("x")],
        ["number", () => set(1)],
        ["null", () => set(null)],
        ["boolean", () => set(true)],
        ["10,000 keys", () => set(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])))],
        ["1 MB value", () => set({ big: "v".repeat(1 << 20) })],
        ["__proto__ key", () => set(objectWith([["__proto__", { polluted: true }]]))],
        ["binary_data_output", () => set({ binary_data_output: true })],
        ["content_type and priority", () => set({ content_type: "image/png", priority: -1, timeout: "never" })],
        ["empty key", () => set({ "": 1 })],
      ])}`;
    }),
};

const structure: Kind = {
  name: "structure",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const req = validOip(rng, model);
    const variants: ReadonlyArray<[string, Json]> = [
      ["body is an array", [req]],
      ["body is a string", "inputs"],
      ["body is a number", 42],
      ["body is null", null],
      ["body is true", true],
      ["empty object", {}],
      ["inputs is null", { inputs: null }],
      ["inputs is a string", { inputs: "x" }],
      ["inputs is a number", { inputs: 1 }],
      ["id is a number", { ...req, id: 123 }],
      ["id is an object", { ...req, id: { a: 1 } }],
      ["id is null", { ...req, id: null }],
      ["id is 1 MB", { ...req, id: "i".repeat(1 << 20) }],
      ["unknown top-level keys", { ...req, extra: 1, model_name: "other", __proto__x: {} }],
      ["outputs only", { outputs: [{ name: model.outputs[0]!.name }] }],
      ["inputs under another key", { input: req.inputs }],
    ];
    const [label, body] = rng.pick(variants);
    return inferDraft(rng, model, `structure: ${label}`, body);
  },
};

const duplicateKeys: Kind = {
  name: "duplicate-keys",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const req = validOip(rng, model);
    const input = req.inputs[0]!;
    const inputWith = (key: string, value: Json, first: boolean) =>
      objectWith(first ? [[key, value], ...Object.entries(input)] : [...Object.entries(input), [key, value]]);
    const variants: ReadonlyArray<[string, () => Json]> = [
      ['"inputs" twice, valid last', () => objectWith([["inputs", []], ["inputs", req.inputs]])],
      ['"inputs" twice, valid first', () => objectWith([["inputs", req.inputs], ["inputs", "x"]])],
      ['"shape" twice, wrong last', () => ({ inputs: [inputWith("shape", [9, 9], false), ...req.inputs.slice(1)] })],
      ['"datatype" twice, wrong first', () => ({ inputs: [inputWith("datatype", "INT8", true), ...req.inputs.slice(1)] })],
      ['"data" twice, wrong last', () => ({ inputs: [inputWith("data", ["x"], false), ...req.inputs.slice(1)] })],
      ['"name" twice', () => ({ inputs: [inputWith("name", "other", false), ...req.inputs.slice(1)] })],
      ['"__proto__" key in an input', () => ({ inputs: [inputWith("__proto__", { shape: [1] }, true), ...req.inputs.slice(1)] })],
      ["1,000 duplicate keys", () => objectWith([...Array.from({ length: 1000 }, (): [string, Json] => ["inputs", []]), ["inputs", req.inputs]])],
    ];
    const [label, body] = rng.pick(variants);
    return inferDraft(rng, model, `duplicate keys: ${label}`, body());
  },
};

const textModels = (models: readonly ModelInfo[]) => models.filter(isText);

const text: Kind = {
  name: "text",
  make: (rng, ctx) => {
    const pool = textModels(ctx.models);
    // Mostly the text models; sometimes raw text to a model that has no featurizer.
    const model = rng.chance(0.85) && pool.length ? rng.pick(pool) : pickModel(rng, ctx);
    const rows = rng.int(1, 3);
    const input: JsonObject = { name: model.inputs[0]!.name, datatype: "BYTES", shape: [rows], data: validTexts(rng, rows) };
    const label = oneOf<[]>(rng, [
      ["shape [n, 2]", () => (input.shape = [rows, 2])],
      ["shape [n, 1, 1]", () => (input.shape = [rows, 1, 1])],
      ["shape [n, 1] (valid)", () => (input.shape = [rows, 1])],
      ["shape [0]", () => (input.shape = [0])],
      ["shape []", () => (input.shape = [])],
      ["shape [n + 1]", () => (input.shape = [rows + 1])],
      ["3,000 rows (over the feature budget)", () => ((input.shape = [3000]), (input.data = validTexts(rng, 3000)))],
      ["shape [1e9], one text", () => ((input.shape = [1e9]), (input.data = ["x"]))],
      ["shape [2^53]", () => (input.shape = [2 ** 53])],
      ["numbers as texts", () => (input.data = Array.from({ length: rows }, () => 1))],
      ["null text", () => (input.data = [null, ...validTexts(rng, rows - 1)])],
      ["nested texts", () => ((input.data = [validTexts(rng, rows)]), (input.shape = [1, rows]))],
      ["3 MB text", () => ((input.data = ["spam ".repeat(600_000)]), (input.shape = [1]))],
      ["lone surrogates (escaped)", () => ((input.data = [new Raw('"\\ud800 \\udfff x\\ud83d"')]), (input.shape = [1]))],
      ["NUL and control characters", () => ((input.data = ["a\u0000b\u0001c\u001f"]), (input.shape = [1]))],
      ["FP32 features of the wrong width", () => ((input.datatype = "FP32"), (input.shape = [1, 4095]), (input.data = Array.from({ length: 4095 }, () => 0)))],
      ["FP32 features given as text", () => ((input.datatype = "FP32"), (input.shape = [rows]))],
      ["tokens that defeat the pattern", () => ((input.data = ["$".repeat(100_000)]), (input.shape = [1]))],
    ]);
    return inferDraft(rng, model, `text: ${label}`, { inputs: [input] });
  },
};

/** `n` copies of `item`, comma-separated, as raw JSON array text (fast for millions). */
const repeated = (n: number, item: string): Raw => new Raw(`[${`${item},`.repeat(Math.max(0, n - 1))}${n > 0 ? item : ""}]`);

/** Valid requests at the far end of what fits under MAX_BODY_BYTES: memory and CPU, not parsing. */
const extreme: Kind = {
  name: "extreme",
  make: (rng, ctx) => {
    const dtypes = pickByName(ctx, "dtypes");
    const echoWith = (name: string, n: number, item: string): OipRequest => {
      const req = validOip(rng, dtypes);
      const input = req.inputs.find((i) => i.name === name)!;
      input.shape = [n];
      input.data = repeated(n, item);
      return req;
    };
    const spam = pickByName(ctx, "spam");
    const text = "spam ham eggs ".repeat(136).slice(0, 1900);
    const variants: ReadonlyArray<[string, ModelInfo, () => Json]> = [
      ["mlp784, 2,000 rows", pickByName(ctx, "mlp784"), () => ({ inputs: [{ name: "pixels", datatype: "FP32", shape: [2000, 784], data: repeated(2000 * 784, "0") }] })],
      ["mlp784-int8, 2,000 rows, top-10 classification", pickByName(ctx, "mlp784-int8"), () => ({ inputs: [{ name: "pixels", datatype: "FP32", shape: [2000, 784], data: repeated(2000 * 784, "1") }], outputs: [{ name: "probabilities", parameters: { classification: 10 } }] })],
      ["iris, 400,000 rows", pickByName(ctx, "iris"), () => ({ inputs: [{ name: "measurements", datatype: "FP32", shape: [400_000, 4], data: repeated(1_600_000, "5") }] })],
      ["iris-int8, 400,000 rows, classification", pickByName(ctx, "iris-int8"), () => ({ inputs: [{ name: "measurements", datatype: "FP32", shape: [400_000, 4], data: repeated(1_600_000, "1") }], outputs: [{ name: "probabilities", parameters: { classification: 3 } }] })],
      ["dtypes, 1,500,000 INT64", dtypes, () => echoWith("x_int64", 1_500_000, "7")],
      ["dtypes, 170,000 UINT64 max strings", dtypes, () => echoWith("x_uint64", 170_000, '"18446744073709551615"')],
      ["dtypes, 1,000,000 empty BYTES", dtypes, () => echoWith("x_bytes", 1_000_000, '""')],
      ["dtypes, 700,000 BOOL", dtypes, () => echoWith("x_bool", 700_000, "true")],
      ["dtypes, 1,500,000 FP16", dtypes, () => echoWith("x_fp16", 1_500_000, "1")],
      ["spam, 2,048 texts of 1,900 characters", spam, () => ({ inputs: [{ name: "features", datatype: "BYTES", shape: [2048], data: repeated(2048, JSON.stringify(text)) }] })],
      ["spam-int8, 2,048 texts as [n, 1]", pickByName(ctx, "spam-int8"), () => ({ inputs: [{ name: "features", datatype: "BYTES", shape: [2048, 1], data: repeated(2048, JSON.stringify(text)) }] })],
      ["spam, 480 feature rows", spam, () => ({ inputs: [{ name: "features", datatype: "FP32", shape: [480, 4096], data: repeated(480 * 4096, "0") }] })],
    ];
    const [label, model, body] = rng.pick(variants);
    return inferDraft(rng, model, `extreme: ${label}`, body());
  },
};

export const OIP_KINDS: readonly Kind[] = [shape, datatype, range, nan, elements, deep, names, outputs, classification, parameters, structure, duplicateKeys, text, extreme];

/** Exported for the byte-level kinds, which mutate the text of a valid body. */
export function validBodyText(rng: Rng, model: ModelInfo): string {
  return toJson(validOip(rng, model));
}
export type { OipRequest };
