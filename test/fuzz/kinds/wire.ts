// Mutations below and around the JSON: broken syntax, invalid UTF-8, oversize bodies,
// content-types, paths, methods, headers and the /v1/predict convenience route.
import { nestedArrays, toJson, utf8, bodyOf, type Json } from "../json";
import type { Rng } from "../prng";
import { knownIrisRequest, validOip, validPredict, validTexts, type ModelInfo } from "../valid";
import { draft, inferDraft, inferPath, pickModel, pickPredictable, JSON_HEADERS, type Draft, type GenContext, type Kind } from "./common";

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const validText = (rng: Rng, model: ModelInfo) => toJson(validOip(rng, model));

const jsonSyntax: Kind = {
  name: "json-syntax",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const text = validText(rng, model);
    const cut = rng.int(0, text.length - 1);
    const variants: ReadonlyArray<[string, () => string | Uint8Array]> = [
      ["truncated", () => text.slice(0, cut)],
      ["truncated inside a string or number", () => text.slice(0, Math.max(1, text.indexOf('"', 10)))],
      ["trailing garbage", () => `${text}}garbage`],
      ["two JSON documents", () => `${text}\n${text}`],
      ["leading garbage", () => `)]}'\n${text}`],
      ["comment", () => `/* c */${text}`],
      ["single quotes", () => text.replaceAll('"', "'")],
      ["trailing comma", () => `${text.slice(0, -1)},}`],
      ["unquoted keys", () => text.replace(/"(\w+)":/g, "$1:")],
      ["raw control character in a string", () => text.replace('"', '"\u0001')],
      ["bad escape", () => text.replace('"', '"\\x41')],
      ["truncated unicode escape", () => text.replace('"', '"\\u12')],
      ["100,000-digit number", () => text.replace(/\d+/, "9".repeat(100_000))],
      ["exponent 1e999999999", () => text.replace(/\d+/, "1e999999999")],
      ["UTF-8 BOM (allowed)", () => concat(new Uint8Array([0xef, 0xbb, 0xbf]), utf8(text))],
      ["UTF-16LE body", () => new Uint8Array(Buffer.from(text, "utf16le"))],
      ["UTF-16LE body with BOM", () => concat(new Uint8Array([0xff, 0xfe]), new Uint8Array(Buffer.from(text, "utf16le")))],
      ["empty body", () => ""],
      ["whitespace only", () => " \n\t\r "],
      ["NUL bytes only", () => new Uint8Array(64)],
      ["random bytes", () => rng.bytes(rng.int(1, 4096))],
      ["JSON null", () => "null"],
    ];
    const [label, make] = rng.pick(variants);
    const body = make();
    return inferDraft(rng, model, `json: ${label}`, typeof body === "string" ? utf8(body) : body);
  },
};

/** Byte sequences that are not UTF-8. */
const INVALID_UTF8: ReadonlyArray<[string, number[]]> = [
  ["0xFF", [0xff]],
  ["0xFE 0xFF", [0xfe, 0xff]],
  ["lone continuation byte", [0x80]],
  ["overlong '/'", [0xc0, 0xaf]],
  ["overlong NUL", [0xc0, 0x80]],
  ["truncated 3-byte sequence", [0xe2, 0x82]],
  ["truncated 4-byte sequence", [0xf0, 0x9f, 0x98]],
  ["UTF-16 surrogate as UTF-8 (CESU)", [0xed, 0xa0, 0x80]],
  ["code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
  ["0xF8 five-byte lead", [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ["Latin-1 é", [0xe9]],
];

const invalidUtf8: Kind = {
  name: "utf8",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const text = validText(rng, model);
    const [label, seq] = rng.pick(INVALID_UTF8);
    const bytes = utf8(text);
    // Inside a string value when there is one (names are strings), else anywhere.
    const quote = text.indexOf('"', rng.int(0, text.length - 1));
    const at = quote >= 0 ? quote + 1 : rng.int(0, bytes.length);
    const where = rng.pick(["in a string", "at the start", "at the end"] as const);
    const pos = where === "in a string" ? at : where === "at the start" ? 0 : bytes.length;
    const body = concat(bytes.subarray(0, pos), new Uint8Array(seq), bytes.subarray(pos));
    return inferDraft(rng, model, `invalid UTF-8: ${label} ${where}`, body);
  },
};

/** A valid body padded with spaces to exactly `size` bytes. */
function paddedTo(rng: Rng, model: ModelInfo, size: number): Uint8Array {
  const text = validText(rng, model);
  const out = new Uint8Array(Math.max(size, text.length)).fill(0x20);
  out.set(utf8(text), 0);
  return out;
}

const oversize: Kind = {
  name: "oversize",
  make: (rng, ctx) => {
    const limit = ctx.maxBodyBytes;
    const useAdmin = rng.chance(0.15);
    const model = useAdmin ? pickModel(rng, ctx) : pickPredictable(rng, ctx);
    const route = useAdmin ? "admin" : rng.pick(["infer", "predict"] as const);
    const path = route === "admin" ? `/admin/models/${model.name}/promote` : route === "predict" ? `/v1/predict/${model.name}` : inferPath(rng, model);
    const headers: Record<string, string> = { ...JSON_HEADERS, ...(useAdmin ? { authorization: `Bearer ${ctx.adminToken}` } : {}) };
    const variants: ReadonlyArray<[string, () => Pick<Draft, "body" | "framing">]> = [
      ["limit + 1 bytes", () => ({ body: paddedTo(rng, model, limit + 1), framing: "length" })],
      ["exactly the limit (allowed)", () => ({ body: paddedTo(rng, model, limit), framing: "length" })],
      ["limit + 1 bytes, chunked", () => ({ body: paddedTo(rng, model, limit + 1), framing: "chunked" })],
      ["exactly the limit, chunked (allowed)", () => ({ body: paddedTo(rng, model, limit), framing: "chunked" })],
      ["6 MiB of data, chunked", () => ({ body: paddedTo(rng, model, 6 << 20), framing: "chunked" })],
      ["5 MiB of numbers", () => ({ body: utf8(`{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[${"0,".repeat(5 << 19)}0]}]}`), framing: "length" })],
    ];
    const [label, make] = rng.pick(variants);
    const { body, framing } = make();
    return { variant: `oversize: ${label} (${route}) [${model.name}]`, method: "POST", path, headers, body, framing };
  },
};

const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/octet-stream",
  "application/json; charset=latin1",
  "application/json; charset=utf-16",
  "application/xml",
  ";;;",
  "application/json".repeat(500),
  "*/*",
];

const contentType: Kind = {
  name: "content-type",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const req = validOip(rng, model);
    const [label, body, type] = rng.pick<[string, Uint8Array, string | null]>([
      ["valid JSON, other content-type", bodyOf(req), rng.pick(CONTENT_TYPES)],
      ["valid JSON, no content-type", bodyOf(req), null],
      ["form-encoded body", utf8(`inputs=${encodeURIComponent(toJson(req.inputs))}`), "application/x-www-form-urlencoded"],
      ["multipart body", utf8(`--xyz\r\ncontent-disposition: form-data; name="inputs"\r\n\r\n${toJson(req)}\r\n--xyz--\r\n`), "multipart/form-data; boundary=xyz"],
      ["gzip claimed, plain body", bodyOf(req), "application/json"],
    ]);
    const headers: Record<string, string> = type === null ? {} : { "content-type": type };
    if (label.startsWith("gzip")) headers["content-encoding"] = rng.pick(["gzip", "br", "deflate", "x-unknown"]);
    return { variant: `content-type: ${label}${type ? ` (${type.slice(0, 40)})` : ""}`, method: "POST", path: inferPath(rng, model), headers, body, framing: "length" };
  },
};

const predict: Kind = {
  name: "predict",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const valid = model.inputs.length === 1 ? validPredict(rng, model) : { instances: [[1]] };
    const rows = (valid.instances as Json[]) ?? [];
    const variants: ReadonlyArray<[string, () => Json]> = [
      ["valid for this model", () => valid],
      ["instances missing", () => ({ inputs: rows })],
      ["instances is an object", () => ({ instances: { 0: rows[0] ?? 1 } })],
      ["instances is a string", () => ({ instances: "text" })],
      ["empty instances", () => ({ instances: [] })],
      ["row one too wide", () => ({ instances: rows.map((r) => (Array.isArray(r) ? [...r, 0] : r)) })],
      ["row one too narrow", () => ({ instances: rows.map((r) => (Array.isArray(r) ? r.slice(1) : r)) })],
      ["empty row", () => ({ instances: [[]] })],
      ["text and features mixed", () => ({ instances: ["text", [1, 2, 3, 4]] })],
      ["texts for a feature model", () => ({ instances: validTexts(rng, 2) })],
      ["numbers as instances", () => ({ instances: [1, 2, 3] })],
      ["booleans in a row", () => ({ instances: [[true, false, true, false]] })],
      ["null instance", () => ({ instances: [null] })],
      ["nested rows", () => ({ instances: [[[1, 2, 3, 4]]] })],
      ["NaN-ish strings in a row", () => ({ instances: [["NaN", "Infinity", "-Infinity", "1e999"]] })],
      ["3,000 texts (over the feature budget)", () => ({ instances: validTexts(rng, 3000) })],
      ["3 MB text", () => ({ instances: ["word ".repeat(600_000)] })],
      ["200,000 levels of nesting", () => ({ instances: nestedArrays(200_000) })],
      ["instances and inputs both", () => ({ ...valid, inputs: [] })],
      ["body is an array", () => rows],
    ];
    const [label, body] = rng.pick(variants);
    return draft(`predict: ${label} [${model.name}]`, "POST", `/v1/predict/${model.name}`, bodyOf(body()));
  },
};

/** Version strings that name no version (or are not numbers at all). */
const BAD_VERSIONS = ["0", "-1", "1.5", "01", "+1", "1e3", "abc", "999999999", "9999999999", "2", "%20", "%00", "%E2%80%AE1", "1%2F", "1".repeat(300), "0x1", "Infinity", "NaN"];

const versions: Kind = {
  name: "versions",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const v = rng.pick(BAD_VERSIONS);
    const base = `/v2/models/${model.name}/versions/${v}`;
    const [method, path, body] = rng.pick<[string, string, Uint8Array | null]>([
      ["POST", `${base}/infer`, bodyOf(validOip(rng, model))],
      ["GET", base, null],
      ["GET", `${base}/ready`, null],
    ]);
    return draft(`versions: "${v}" ${path.endsWith("infer") ? "infer" : path.endsWith("ready") ? "ready" : "metadata"}`, method, path, body);
  },
};

/** Model names no model has, some of them longer than any storage key may be. */
function badModelName(rng: Rng): [string, string] {
  return rng.pick<[string, string]>([
    ["unknown", rng.word(8)],
    ["uppercase", "IRIS"],
    ["64 characters", "m".repeat(64)],
    ["65 characters", "m".repeat(65)],
    ["300 characters", "m".repeat(300)],
    ["505 characters", "m".repeat(505)],
    ["600 characters", "m".repeat(600)],
    ["2,000 characters", "m".repeat(2000)],
    ["8,000 characters", "m".repeat(8000)],
    ["percent-encoded slash", "iris%2Fx"],
    ["percent-encoded NUL", "iris%00"],
    ["invalid percent-encoding", "%ZZ"],
    ["lone percent", "iris%"],
    ["percent-encoded non-UTF-8", "%C0%AF"],
    ["dot", "."],
    ["dot dot", ".."],
    ["encoded dot dot", "%2e%2e"],
    ["space", "ir%20is"],
    ["unicode", "%E6%A8%A1%E5%9E%8B"],
    ["300 encoded emoji", "%F0%9F%98%80".repeat(300)],
    ["__proto__", "__proto__"],
    ["constructor", "constructor"],
  ]);
}

const modelNames: Kind = {
  name: "model-names",
  make: (rng, ctx) => {
    const [label, name] = badModelName(rng);
    const model = pickModel(rng, ctx);
    const [route, method, path, body] = rng.pick<[string, string, string, Uint8Array | null]>([
      ["infer", "POST", `/v2/models/${name}/infer`, bodyOf(validOip(rng, model))],
      ["pinned infer", "POST", `/v2/models/${name}/versions/1/infer`, bodyOf(validOip(rng, model))],
      ["metadata", "GET", `/v2/models/${name}`, null],
      ["version metadata", "GET", `/v2/models/${name}/versions/1`, null],
      ["ready", "GET", `/v2/models/${name}/ready`, null],
      ["predict", "POST", `/v1/predict/${name}`, bodyOf(knownPredict())],
    ]);
    return draft(`model name: ${label} (${route})`, method, path, body);
  },
};

const knownPredict = (): Json => ({ instances: [[5.1, 3.5, 1.4, 0.2]] });

const paths: Kind = {
  name: "paths",
  make: (rng, ctx) => {
    const m = pickModel(rng, ctx).name;
    const body = bodyOf(knownIrisRequest());
    const [label, method, path] = rng.pick<[string, string, string]>([
      ["no model", "POST", "/v2/models//infer"],
      ["models list", "GET", "/v2/models"],
      ["models list, slash", "GET", "/v2/models/"],
      ["extra segment", "POST", `/v2/models/${m}/infer/extra`],
      ["trailing slash", "POST", `/v2/models/${m}/infer/`],
      ["double slash", "POST", `//v2/models/${m}/infer`],
      ["inner double slash", "POST", `/v2/models/${m}//infer`],
      ["empty version", "POST", `/v2/models/${m}/versions//infer`],
      ["uppercase prefix", "POST", `/V2/models/${m}/infer`],
      ["v3", "GET", "/v3"],
      ["root", "GET", "/"],
      ["dot segments", "GET", `/v2/models/../../admin/models`],
      ["encoded dot segments", "GET", `/v2/models/%2e%2e/%2e%2e/admin/models`],
      ["query string", "POST", `/v2/models/${m}/infer?debug=1&x=%ZZ`],
      ["8 KB query string", "POST", `/v2/models/${m}/infer?q=${"a".repeat(8192)}`],
      ["fragment-like", "POST", `/v2/models/${m}/infer%23frag`],
      ["health with suffix", "GET", "/v2/health/live/x"],
      ["semicolon parameter", "POST", `/v2/models/${m};v=1/infer`],
      ["absolute-form junk", "GET", "/%2F%2Fevil.example/"],
      ["32 KB path", "GET", `/${"p/".repeat(16_384)}`],
      ["admin without route", "GET", "/admin"],
    ]);
    return draft(`path: ${label}`, method, path, method === "POST" ? body : null);
  },
};

const methods: Kind = {
  name: "methods",
  make: (rng, ctx) => {
    const m = pickModel(rng, ctx).name;
    const [route, path] = rng.pick<[string, string]>([
      ["infer", `/v2/models/${m}/infer`],
      ["pinned infer", `/v2/models/${m}/versions/1/infer`],
      ["predict", `/v1/predict/${m}`],
      ["metadata", `/v2/models/${m}`],
      ["ready", `/v2/models/${m}/ready`],
      ["health", "/v2/health/ready"],
      ["server", "/v2"],
      ["admin promote", `/admin/models/${m}/promote`],
    ]);
    // No unregistered method tokens (e.g. FOO): workerd answers those itself (501, text/plain)
    // before the Worker runs, so they say nothing about the Worker.
    const method = rng.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "POST", "PROPFIND", "MKCOL"]);
    const body = ["GET", "HEAD", "TRACE"].includes(method) && rng.chance(0.7) ? null : bodyOf(knownIrisRequest());
    return draft(`method: ${method} on ${route}`, method, path, body);
  },
};

/** Headers that are wrong, too long or unexpected. */
function badHeaders(rng: Rng, ctx: GenContext): [string, Record<string, string>] {
  return rng.pick<[string, Record<string, string>]>([
    ["x-user-id 257 characters", { "x-user-id": "u".repeat(257) }],
    ["x-user-id 8,000 characters", { "x-user-id": "u".repeat(8000) }],
    ["x-user-id exactly 256 (allowed)", { "x-user-id": rng.word(256) }],
    ["x-user-id Latin-1", { "x-user-id": `\u00e9\u00ff${rng.word(8)}` }],
    ["x-user-id 256 Latin-1 characters", { "x-user-id": "\u00ff".repeat(255) + rng.word(1) }],
    ["x-user-id spaces and symbols", { "x-user-id": ` ${rng.word(4)} ;,"\\ ` }],
    ["x-user-id empty", { "x-user-id": "" }],
    ["hop header (forwarded request)", { "x-meridian-hop": "1" }],
    ["hop header junk", { "x-meridian-hop": "x".repeat(1000) }],
    ["bearer token on a public route", { authorization: `Bearer ${ctx.adminToken}` }],
    ["malformed authorization", { authorization: "Basic ::::" }],
    ["cf-connecting-ip junk", { "cf-connecting-ip": "not-an-ip".repeat(100) }],
    ["x-forwarded-for 1,000 hops", { "x-forwarded-for": Array.from({ length: 1000 }, () => "10.0.0.1").join(", ") }],
    ["accept: XML only", { accept: "application/xml" }],
    // Not one that refuses identity ("*;q=0"): workerd answers that itself (415, text/plain).
    ["accept-encoding junk", { "accept-encoding": "x-nope;q=2, br;q=0" }],
    ["200 custom headers", Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, rng.word(20)]))],
    ["16 KB header", { "x-big": "b".repeat(16 << 10) }],
    ["64 KB header", { "x-big": "b".repeat(64 << 10) }],
    ["x-meridian-actor 10 KB", { "x-meridian-actor": "a".repeat(10_240) }],
  ]);
}

const headers: Kind = {
  name: "headers",
  make: (rng, ctx) => {
    const model = pickPredictable(rng, ctx);
    const [label, extra] = badHeaders(rng, ctx);
    const [route, d] = rng.pick<[string, () => Draft]>([
      ["infer", () => inferDraft(rng, model, "", validOip(rng, model))],
      ["predict", () => draft("", "POST", `/v1/predict/${model.name}`, bodyOf(validPredict(rng, model)))],
      ["metadata", () => draft("", "GET", `/v2/models/${model.name}`)],
    ]);
    const out = d();
    return { ...out, variant: `headers: ${label} (${route}) [${model.name}]`, headers: { ...out.headers, ...extra } };
  },
};

const metadata: Kind = {
  name: "metadata",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const [route, path] = rng.pick<[string, string]>([
      ["metadata", `/v2/models/${model.name}`],
      ["version metadata", `/v2/models/${model.name}/versions/${model.version}`],
      ["ready", `/v2/models/${model.name}/ready`],
      ["version ready", `/v2/models/${model.name}/versions/${model.version}/ready`],
      ["server", "/v2"],
      ["live", "/v2/health/live"],
      ["health ready", "/v2/health/ready"],
    ]);
    const [label, suffix, body] = rng.pick<[string, string, Uint8Array | null]>([
      ["junk query", "?x=%ZZ&y", null],
      ["repeated query keys", `?${"v=1&".repeat(500)}`, null],
      ["JSON body on a GET", "", bodyOf(validOip(rng, model))],
      ["invalid UTF-8 body on a GET", "", new Uint8Array([0xff, 0xfe, 0x80])],
      ["plain (valid)", "", null],
    ]);
    return draft(`metadata: ${label} (${route}) [${model.name}]`, rng.chance(0.2) ? "HEAD" : "GET", path + suffix, body);
  },
};

/** Random byte edits of a valid body: flips, insertions and deletions. */
const havoc: Kind = {
  name: "havoc",
  make: (rng, ctx) => {
    const model = pickModel(rng, ctx);
    const bytes = Array.from(utf8(validText(rng, model)));
    const edits = rng.int(1, 8);
    for (let i = 0; i < edits; i++) {
      const at = rng.int(0, Math.max(0, bytes.length - 1));
      const op = rng.int(0, 2);
      if (op === 0) bytes[at] = rng.int(0, 255);
      else if (op === 1) bytes.splice(at, 0, rng.pick([0x5b, 0x5d, 0x7b, 0x7d, 0x22, 0x2c, 0x3a, 0x2d, 0x30, 0x5c, rng.int(0, 255)]));
      else bytes.splice(at, rng.int(1, 4));
    }
    return inferDraft(rng, model, `havoc: ${edits} byte edits`, new Uint8Array(bytes));
  },
};

export const WIRE_KINDS: readonly Kind[] = [jsonSyntax, invalidUtf8, oversize, contentType, predict, versions, modelNames, paths, methods, headers, metadata, havoc];

