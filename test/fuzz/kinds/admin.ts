// Bad admin requests: without or with a wrong token, and with the right token but junk payloads
// for promote, canary, rollback, version pushes and artifact uploads. None of them can change
// what is served: every payload either fails validation or names a version that does not exist.
import { nestedObjects, bodyOf, utf8, type Json, Raw } from "../json";
import type { Rng } from "../prng";
import { draft, pickModel, type Draft, type GenContext, type Kind } from "./common";

const ACTIONS = ["promote", "canary", "rollback", "versions"] as const;

function adminPath(rng: Rng, ctx: GenContext): [string, string] {
  const m = pickModel(rng, ctx).name;
  return rng.pick<[string, string]>([
    ["POST", `/admin/models/${m}/${rng.pick(ACTIONS)}`],
    ["GET", "/admin/models"],
    ["GET", `/admin/models/${m}`],
    ["GET", `/admin/models/${m}/history`],
    ["GET", `/admin/models/${m}/status`],
    ["PUT", `/admin/artifacts/${"0".repeat(64)}`],
  ]);
}

const noAuth: Kind = {
  name: "admin-auth",
  make: (rng, ctx) => {
    const [method, path] = adminPath(rng, ctx);
    const [label, authorization] = rng.pick<[string, string | null]>([
      ["no token", null],
      ["wrong token", "Bearer wrong-token"],
      ["token with a suffix", `Bearer ${ctx.adminToken}x`],
      ["token prefix", `Bearer ${ctx.adminToken.slice(0, -1)}`],
      ["empty bearer", "Bearer "],
      ["bearer, no space", `Bearer${ctx.adminToken}`],
      ["basic scheme", `Basic ${Buffer.from(`admin:${ctx.adminToken}`).toString("base64")}`],
      ["token only", ctx.adminToken],
      ["10 KB token", `Bearer ${"t".repeat(10_240)}`],
      ["Latin-1 token", "Bearer \u00e9\u00e8\u00ff"],
    ]);
    const body = method === "GET" ? null : bodyOf({ version: 1, expected: 1 });
    return draft(`admin auth: ${label} (${method} ${path.split("/").slice(0, 4).join("/")})`, method, path, body, {
      headers: authorization === null ? {} : { authorization },
    });
  },
};

/** Values that are not a positive integer version. */
const BAD_NUMBERS: ReadonlyArray<[string, Json]> = [
  ["0", 0],
  ["-1", -1],
  ["1.5", 1.5],
  ['"1"', "1"],
  ["null", null],
  ["1e308", 1e308],
  ["1e400 literal", new Raw("1e400")],
  ["2^53 + 2", 2 ** 53 + 2],
  ["true", true],
  ["[]", []],
  ["{}", {}],
];

const SHA = "a".repeat(64);
const CREATED_AT = "2026-11-24T00:00:00.000Z";
/** A manifest that passes the schema; pushed with a signature that cannot verify. */
const manifestFor = (name: string, extra: Record<string, Json> = {}): Record<string, Json> => ({
  name,
  version: 2,
  sha256: SHA,
  size: 100,
  inputs: [{ name: "x", datatype: "FP32", shape: [-1, 4] }],
  outputs: [{ name: "y", datatype: "FP32", shape: [-1, 3] }],
  quantization: "none",
  createdAt: CREATED_AT,
  ...extra,
});
/** Base64 of 64 bytes: the length of an Ed25519 signature, so verification really runs. */
const SIGNATURE_64 = Buffer.alloc(64, 7).toString("base64");

function junkPayload(rng: Rng, action: string, name: string): [string, Json] {
  const [numLabel, bad] = rng.pick(BAD_NUMBERS);
  switch (action) {
    case "promote":
      return rng.pick<[string, Json]>([
        [`version ${numLabel}`, { version: bad, expected: 1 }],
        [`expected ${numLabel}`, { version: 9, expected: bad }],
        ["expected missing", { version: 9 }],
        ["unknown version", { version: 999, expected: 1 }],
        ["already serving", { version: 1, expected: 1 }],
        ["stale expected", { version: 1, expected: 7 }],
      ]);
    case "canary":
      return rng.pick<[string, Json]>([
        [`percent ${numLabel}`, { version: 2, percent: bad, expected: 1 }],
        ["percent 101", { version: 2, percent: 101, expected: 1 }],
        ["percent -1", { version: 2, percent: -1, expected: 1 }],
        ['percent "NaN"', { version: 2, percent: "NaN", expected: 1 }],
        ["percent 1e-300", { version: 999, percent: 1e-300, expected: 1 }],
        [`version ${numLabel}`, { version: bad, percent: 10, expected: 1 }],
        ["canary of the serving version", { version: 1, percent: 50, expected: 1 }],
        ["unknown version", { version: 999, percent: 50, expected: 1 }],
      ]);
    case "rollback":
      return rng.pick<[string, Json]>([
        [`expected ${numLabel}`, { expected: bad }],
        ["nothing to roll back to", { expected: 1 }],
        ["expected missing", {}],
      ]);
    default:
      return rng.pick<[string, Json]>([
        ["no manifest", { signature: SIGNATURE_64 }],
        ["manifest is a string", { manifest: "m", signature: SIGNATURE_64 }],
        ["manifest of another model", { manifest: manifestFor("other"), signature: SIGNATURE_64 }],
        ["empty signature", { manifest: manifestFor(name), signature: "" }],
        ["signature not base64", { manifest: manifestFor(name), signature: "!!!" }],
        ["signature of the wrong length", { manifest: manifestFor(name), signature: "AAAA" }],
        ["signature that does not verify", { manifest: manifestFor(name), signature: SIGNATURE_64 }],
        [`manifest version ${numLabel}`, { manifest: manifestFor(name, { version: bad }), signature: SIGNATURE_64 }],
        ["unknown datatype in the manifest", { manifest: manifestFor(name, { inputs: [{ name: "x", datatype: "FP128", shape: [1] }] }), signature: SIGNATURE_64 }],
        ["unknown featurizer", { manifest: manifestFor(name, { preprocessing: { id: "nope", params: {} } }), signature: SIGNATURE_64 }],
        ["featurizer params 50,000 levels deep", { manifest: manifestFor(name, { preprocessing: { id: "hashed-bow-v1", params: { a: nestedObjects(50_000) } } }), signature: SIGNATURE_64 }],
        ["labels with 100,000 entries", { manifest: manifestFor(name, { labels: { y: Array.from({ length: 100_000 }, (_, i) => `l${i}`) } }), signature: SIGNATURE_64 }],
        ["bad createdAt", { manifest: manifestFor(name, { createdAt: "yesterday" }), signature: SIGNATURE_64 }],
      ]);
  }
}

function artifactDraft(rng: Rng, auth: Record<string, string>): Draft {
  const bytes = rng.bytes(rng.int(1, 512));
  const [label, path, body, framing, extra] = rng.pick<[string, string, Uint8Array | null, Draft["framing"], Record<string, string>]>([
    ["key not a sha256", `/admin/artifacts/${rng.word(12)}`, bytes, "length", {}],
    ["uppercase sha256", `/admin/artifacts/${"A".repeat(64)}`, bytes, "length", {}],
    ["bytes that do not hash to the key", `/admin/artifacts/${SHA.replace(/^a/, "b")}`, bytes, "length", {}],
    ["no content-length (chunked)", `/admin/artifacts/${SHA.replace(/^a/, "c")}`, bytes, "chunked", {}],
    ["empty body", `/admin/artifacts/${SHA.replace(/^a/, "d")}`, new Uint8Array(0), "length", {}],
    ["no body at all", `/admin/artifacts/${SHA.replace(/^a/, "f")}`, null, "length", {}],
  ]);
  if (rng.chance(0.3)) {
    const key = rng.pick([SHA.replace(/^a/, "9"), rng.word(12), "A".repeat(64), "%00", "a".repeat(65)]);
    const method = rng.pick(["GET", "HEAD"]);
    return draft(`admin artifacts: ${method} of a key not stored or not a sha256`, method, `/admin/artifacts/${key}`, null, { headers: auth });
  }
  return draft(`admin artifacts: ${label}`, "PUT", path, body, { framing, headers: { ...auth, "content-type": "application/octet-stream", ...extra } });
}

const junk: Kind = {
  name: "admin-junk",
  make: (rng, ctx) => {
    const auth = { authorization: `Bearer ${ctx.adminToken}` };
    const model = pickModel(rng, ctx);
    const roll = rng.next();
    if (roll < 0.15) return artifactDraft(rng, auth);
    if (roll < 0.3) {
      const name = rng.pick(["IRIS", "-x", "a".repeat(65), "%00", "a%2Fb", "..", "_x"]);
      const [method, path] = rng.pick<[string, string]>([
        ["GET", `/admin/models/${name}`],
        ["GET", `/admin/models/${name}/history`],
        ["GET", `/admin/models/${name}/status`],
        ["POST", `/admin/models/${name}/promote`],
        ["GET", `/admin/models/${rng.word(10)}`],
        ["GET", `/admin/models/${rng.word(10)}/history`],
        ["GET", `/admin/models/${rng.word(10)}/status`],
        ["DELETE", `/admin/models/${model.name}`],
        ["GET", `/admin/${rng.word(6)}`],
      ]);
      return draft(`admin: ${method} ${path.slice(0, 60)}`, method, path, method === "POST" ? bodyOf({ version: 2, expected: 1 }) : null, { headers: auth });
    }
    const action = rng.pick(ACTIONS);
    const path = `/admin/models/${model.name}/${action}`;
    if (rng.chance(0.2)) {
      const [label, body] = rng.pick<[string, Uint8Array]>([
        ["truncated JSON", utf8('{"version": 2, "expec')],
        ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d])],
        ["empty body", new Uint8Array(0)],
        ["body is an array", bodyOf([1, 2])],
        ["200,000 levels of nesting", bodyOf(nestedObjects(200_000))],
      ]);
      return draft(`admin ${action}: ${label}`, "POST", path, body, { headers: auth });
    }
    const [label, payload] = junkPayload(rng, action, model.name);
    return draft(`admin ${action}: ${label}`, "POST", path, bodyOf(payload), { headers: auth });
  },
};

export const ADMIN_KINDS: readonly Kind[] = [noAuth, junk];
