// Feature views end to end in workerd: a view that does not fit the model's inputs is refused at
// publish; rows land in their entity's home shard, last-writer-wins by event_time, with per-row
// errors; a prediction names its entity and gets its inputs filled from the shard in the call
// that counts it, with what was defaulted or stale said in the response.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { foldLog } from "../../shared/feature-history";
import type { FeatureBinding } from "../../shared/features";
import type { Manifest } from "../../shared/manifest";
import { encodeModel, floatTensor, graph, node, attr, valueInfo } from "../../shared/onnx/build";
import { manifestFor } from "../../shared/onnx/manifest";
import { shardLabel } from "../../shared/shards";
import { configOf } from "../config";
import { shardStub } from "../callers/shards";
import { AdminClient } from "../../shared/admin-client";
import { BASE, inferBinary } from "../../test/edge/client";
import { admin, expectAdminError, seed } from "../../test/edge/seed";
import { json, popAt } from "../../test/edge/pop";

/** y = concat(item [n,2], user [n,4]) · W: every position of both inputs moves the answer. */
const W = [0.5, -1, 2, 0.25, -0.75, 1.5, 1, 3, -2, 0.5, 0.125, -4];
const scorer = (): Uint8Array =>
  encodeModel(
    graph({
      name: "scorer",
      nodes: [node("Concat", ["item", "user"], ["x"], { axis: attr.int(1) }), node("MatMul", ["x", "w"], ["y"])],
      inputs: [valueInfo("item", "FP32", [-1, 2]), valueInfo("user", "FP32", [-1, 4])],
      outputs: [valueInfo("y", "FP32", [-1, 2])],
      initializers: [floatTensor("w", [6, 2], W)],
    }),
  );

const MINUTE = 60_000;
/** near_stats' bound: long enough that the background refresh (at half of it) stays out of the way. */
const BOUND = 10_000;
/** score (default 0.5, 1 min), recent [2] (no default), risk (1 min, no default): 4 values, input "user". */
const userStats = (extra: Partial<FeatureBinding> = {}): FeatureBinding => ({
  name: "user_stats",
  entity: "user",
  consistency: "strong",
  features: [
    { name: "score", datatype: "FP32", shape: [], default: 0.5, maxAgeMs: MINUTE },
    { name: "recent", datatype: "FP32", shape: [2] },
    { name: "risk", datatype: "FP32", shape: [], maxAgeMs: MINUTE },
  ],
  input: "user",
  ...extra,
});

async function publish(name: string, features?: FeatureBinding[]): Promise<Manifest> {
  const bytes = scorer();
  const m = await manifestFor(bytes, { name, version: 1, quantization: "none", ...(features ? { features } : {}) });
  return admin().publish(m, bytes, env.TEST_SIGNING_KEY, { promote: true });
}

const fra = popAt("FRA"); // home region weur for keys first seen here
const sin = popAt("SIN");
/** Writes go through FRA: the entities they create get their homes in weur. */
const writer = new AdminClient(BASE, env.ADMIN_TOKEN, { fetch: (input, init) => fra(input.slice(BASE.length), init), actor: "test" });
const put = (rows: unknown[], view = "user_stats") => writer.putFeatures(view, rows);

interface Answer {
  model_version?: string;
  outputs: Array<{ name: string; data: number[] }>;
  parameters?: Record<string, string | number>;
}
async function predict(at: typeof fra, model: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Answer & { error?: string } }> {
  const res = await at(`/v2/models/${model}/infer`, json(body, headers));
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer & { error?: string } };
}
const items = (rows: number[][]) => ({ name: "item", datatype: "FP32", shape: [rows.length, 2], data: rows.flat() });
/** What the model without views answers when the caller sends `user` itself. */
async function explicit(itemRows: number[][], user: number[]): Promise<number[]> {
  const a = await predict(fra, "fv-plain", { inputs: [items(itemRows), { name: "user", datatype: "FP32", shape: [itemRows.length, 4], data: itemRows.flatMap(() => user) }] });
  expect(a.status, a.body.error).toBe(200);
  return a.body.outputs[0]!.data;
}
/** The entity's stored values, straight from the shard its home (weur, from FRA) places it on. */
const shardOf = (entity: string) => shardStub(env, configOf(env).shardLayout.owner(entity, "weur"));

beforeAll(async () => {
  await seed([]);
  await publish("fv-score", [userStats()]);
  await publish("fv-plain");
  await publish("fv-near", [{ name: "near_stats", entity: "user", consistency: "bounded", maxStalenessMs: BOUND, features: [{ name: "vec", datatype: "FP32", shape: [4] }], input: "user" }]);
});

describe("feature view definitions at publish", () => {
  it("refuses a view that does not fit the model's inputs, naming the mismatch", async () => {
    const refuse = (features: FeatureBinding[], pattern: RegExp) => expectAdminError(publish("fv-bad", features), 400, pattern);
    await refuse([userStats({ name: "v1", input: "users" })], /feature view "v1" fills input "users", which the model does not have \(its inputs: item, user\)/);
    await refuse([userStats({ name: "v2", features: [{ name: "n", datatype: "INT64", shape: [4] }] })], /feature view "v2": feature "n" is INT64, input "user" is FP32/);
    await refuse([userStats({ name: "v3", features: [{ name: "a", datatype: "FP32", shape: [3] }] })], /input "user": positions 3\.\.3 are filled by no feature view \(its rows have 4 values, the views give 3\)/);
    await refuse([userStats({ name: "v4", features: [{ name: "a", datatype: "FP32", shape: [5] }] })], /feature view "v4" takes positions 0\.\.4 of input "user", whose rows have 4 values/);
    await refuse([userStats({ name: "v5", features: [{ name: "a", datatype: "FP32", shape: [2] }] }), userStats({ name: "v6", offset: 1, features: [{ name: "b", datatype: "FP32", shape: [3] }] })], /feature view "v6" takes positions 1\.\.3 of input "user", overlapping positions before 2/);
    await refuse([userStats({ name: "v7", consistency: "bounded" })], /feature view "v7": consistency "bounded" needs maxStalenessMs/);
    await refuse([userStats({ name: "v8", features: [{ name: "a", datatype: "FP32", shape: [4], default: [1, 2] }] })], /feature "a": default has 2 values, shape \[4\] needs 4/);
    expect(await admin().model("fv-bad")).toBeNull();
  });

  it("takes two views tiling one input, and refuses redefining a view another model declared", async () => {
    const two = [
      userStats({ name: "left", features: [{ name: "a", datatype: "FP32", shape: [1], default: 0 }] }),
      userStats({ name: "right", offset: 1, features: [{ name: "b", datatype: "FP32", shape: [3], default: [0, 0, 0] }] }),
    ];
    await publish("fv-two", two);
    await expectAdminError(
      publish("fv-other", [userStats({ features: [{ name: "score", datatype: "FP32", shape: [4] }] })]),
      400,
      /feature view "user_stats" was declared by fv-score version 1 with another definition \(features were \[score, recent, risk\], now \[score\]\); .*new name/,
    );
    // The same definition bound by another model is fine.
    await publish("fv-same", [userStats()]);
  });
});

describe("PUT /admin/features/{view}", () => {
  it("refuses an unknown view (404) and a caller without the admin token (401)", async () => {
    await expectAdminError(put([{ entity_id: "u", values: { a: 1 }, event_time: 1 }], "no_such_view"), 404, /unknown feature view "no_such_view"/);
    const res = await fra("/admin/features/user_stats", { method: "PUT", body: JSON.stringify({ rows: [] }) });
    expect(res.status).toBe(401);
  });

  it("lands rows in the entity's home shard; an older event_time never overwrites, in any order", async () => {
    const now = Date.now();
    // The writer's PoP (FRA) claims the new entities' homes: weur.
    const write = put;
    expect(await write([{ entity_id: "lww-1", values: { recent: [1, 2], score: 0.9 }, event_time: now - 1000 }])).toEqual({ view: "user_stats", accepted: 1, superseded: 0, rejected: [] });
    // Older: nothing changes. Newer for one feature only: that feature changes.
    expect(await write([{ entity_id: "lww-1", values: { recent: [7, 7], score: 0.1 }, event_time: now - 5000 }])).toMatchObject({ accepted: 1, superseded: 2 });
    expect(await write([{ entity_id: "lww-1", values: { score: 0.3 }, event_time: new Date(now).toISOString() }])).toMatchObject({ accepted: 1, superseded: 0 });
    const stored = await shardOf("lww-1").readFeatures("lww-1", ["user_stats"]);
    expect(stored.user_stats).toEqual({ recent: { value: [1, 2], eventTime: now - 1000 }, score: { value: [0.3], eventTime: now } });

    // Out of order within one batch and across batches: the same final state.
    const rows = [
      { entity_id: "lww-2", values: { recent: [3, 3] }, event_time: now - 100 },
      { entity_id: "lww-2", values: { recent: [9, 9] }, event_time: now - 50 },
      { entity_id: "lww-2", values: { recent: [1, 1] }, event_time: now - 200 },
      // Equal times: the value with the larger JSON wins, whichever arrives first.
      { entity_id: "lww-3", values: { recent: [4, 4] }, event_time: now },
      { entity_id: "lww-3", values: { recent: [5, 5] }, event_time: now },
    ];
    await write(rows);
    await write([...rows].reverse()); // a replay, backwards
    for (const r of [...rows].reverse()) await write([r]);
    expect((await shardOf("lww-2").readFeatures("lww-2", ["user_stats"])).user_stats!.recent).toEqual({ value: [9, 9], eventTime: now - 50 });
    expect((await shardOf("lww-3").readFeatures("lww-3", ["user_stats"])).user_stats!.recent).toEqual({ value: [5, 5], eventTime: now });
    await write([{ entity_id: "lww-4", values: { recent: [5, 5] }, event_time: now }, { entity_id: "lww-4", values: { recent: [4, 4] }, event_time: now }]);
    expect((await shardOf("lww-4").readFeatures("lww-4", ["user_stats"])).user_stats!.recent?.value).toEqual([5, 5]);
  });

  it("reports each bad row; good rows land; nothing of a bad row is stored", async () => {
    const now = Date.now();
    const report = await put([
      { entity_id: "rows-ok", values: { recent: [1, 2] }, event_time: now },
      { entity_id: "rows-bad-feature", values: { recent: [1, 2], colour: 3 }, event_time: now },
      { entity_id: "rows-bad-type", values: { recent: [1, "two"] }, event_time: now },
      { entity_id: "rows-bad-shape", values: { score: 0.2, recent: [1, 2, 3] }, event_time: now },
      { entity_id: "rows-bad-time", values: { recent: [1, 2] }, event_time: "yesterday" },
      { entity_id: "rows-future", values: { recent: [1, 2] }, event_time: now + 3_600_000 },
      { values: { recent: [1, 2] }, event_time: now },
      { entity_id: "rows-nan", values: { score: Number.NaN }, event_time: now },
      { entity_id: "rows-ok-2", values: { risk: 0.25 }, event_time: now - 1 },
    ]);
    expect(report.accepted).toBe(2);
    expect(report.rejected.map((r) => [r.index, r.entity_id])).toEqual([
      [1, "rows-bad-feature"],
      [2, "rows-bad-type"],
      [3, "rows-bad-shape"],
      [4, "rows-bad-time"],
      [5, "rows-future"],
      [6, null],
      [7, "rows-nan"],
    ]);
    const errors = report.rejected.map((r) => r.error);
    expect(errors[0]).toMatch(/unknown feature "colour"; view "user_stats" has score, recent, risk/);
    expect(errors[1]).toMatch(/feature "recent": element 1 is "two", expected a FP32 number/);
    expect(errors[2]).toMatch(/feature "recent": has 3 values, shape \[2\] needs 2/);
    expect(errors[3]).toMatch(/event_time "yesterday" is not a time/);
    expect(errors[4]).toMatch(/more than 5 minutes in the future/);
    expect(errors[5]).toMatch(/entity_id must be a non-empty string/);
    expect(errors[6]).toMatch(/feature "score": must be a FP32 value/); // NaN is null in JSON
    expect((await shardOf("rows-ok").readFeatures("rows-ok", ["user_stats"])).user_stats).toEqual({ recent: { value: [1, 2], eventTime: now } });
    // rows-bad-shape had a valid score: the row is refused whole, so it is not stored.
    expect(await shardOf("rows-bad-shape").readFeatures("rows-bad-shape", ["user_stats"])).toEqual({});
    expect(await shardOf("rows-bad-feature").readFeatures("rows-bad-feature", ["user_stats"])).toEqual({});
  });

  it("refuses a batch that is not {rows: [...]}", async () => {
    await expectAdminError(writer.call("PUT", "/admin/features/user_stats", { row: [] }), 400, /invalid feature batch/);
    await expectAdminError(writer.call("PUT", "/admin/features/user_stats", { rows: [] }), 400, /invalid feature batch: rows: .*at most 1000 rows/);
  });
});

describe("the offline log and the state as of a time", () => {
  /** Every row sent, to compute the expected state by brute force. */
  const sent: Array<{ entity_id: string; values: Record<string, number[]>; event_time: number }> = [];
  const T0 = Date.UTC(2026, 11, 1);
  const log = () => writer.featureLog("hist");

  beforeAll(async () => {
    await publish("fv-hist", [{ name: "hist", entity: "user", consistency: "strong", features: [{ name: "a", datatype: "FP32", shape: [2] }, { name: "b", datatype: "FP32", shape: [2] }], input: "user" }]);
    // Seeded rows: 6 entities, times on a coarse grid so many collide (equal times: the larger JSON wins).
    let x = 7;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n);
    for (let i = 0; i < 60; i++) {
      const values: Record<string, number[]> = {};
      if (rnd(3) !== 0) values.a = [rnd(5), i];
      if (rnd(3) !== 0 || !values.a) values.b = [rnd(5), -i];
      sent.push({ entity_id: `h-${rnd(6)}`, values, event_time: T0 + rnd(8) * 1000 });
    }
    // In three batches out of order, one replayed, and a bad row that must not reach the log.
    expect(await put([...sent.slice(0, 25), { entity_id: "h-0", values: { nope: 1 }, event_time: T0 }], "hist")).toMatchObject({ accepted: 25, rejected: [{ index: 25 }] });
    await put(sent.slice(40).reverse(), "hist");
    await put(sent.slice(25, 40), "hist");
    await put(sent.slice(0, 10), "hist");
  });

  /** The state as of `t` by brute force over what was sent: per feature, the latest time, then the larger JSON. */
  function expected(t: number): Map<string, Record<string, { value: number[]; eventTime: number }>> {
    const out = new Map<string, Record<string, { value: number[]; eventTime: number }>>();
    for (const r of sent.filter((r) => r.event_time <= t)) {
      const held = out.get(r.entity_id) ?? {};
      for (const [f, value] of Object.entries(r.values)) {
        const h = held[f];
        if (!h || r.event_time > h.eventTime || (r.event_time === h.eventTime && JSON.stringify(value) > JSON.stringify(h.value))) held[f] = { value, eventTime: r.event_time };
      }
      out.set(r.entity_id, held);
    }
    return out;
  }

  it("keeps each stored batch as one object with its rows' event-time range", async () => {
    const page = await log().page();
    expect(page.cursor).toBeNull();
    expect(page.objects.map((o) => o.rows)).toEqual([25, 20, 15, 10]);
    expect(page.objects[0]).toMatchObject({ min_event_time: Math.min(...sent.slice(0, 25).map((r) => r.event_time)), max_event_time: Math.max(...sent.slice(0, 25).map((r) => r.event_time)) });
    const lines = (await log().read(page.objects[0]!.id)).trim().split("\n").map((l) => JSON.parse(l) as { entity: string });
    expect(lines.map((l) => l.entity)).toEqual(sent.slice(0, 25).map((r) => r.entity_id));
  });

  it("folds to exactly what the online store holds, and to the state at any earlier time", async () => {
    const now = await foldLog(log(), Date.now());
    const online = new Map<string, unknown>();
    for (const e of new Set(sent.map((r) => r.entity_id))) online.set(e, (await shardOf(e).readFeatures(e, ["hist"])).hist);
    expect(new Map([...now.rows()].map((r) => [r.entity_id, r.features]))).toEqual(online);
    for (const t of [T0 - 1, T0, T0 + 3500, T0 + 7000]) {
      const fold = await foldLog(log(), t);
      expect(new Map([...fold.rows()].map((r) => [r.entity_id, r.features])), `as of T0+${t - T0}`).toEqual(expected(t));
    }
    // Objects whose rows are all later than as_of are not read.
    const read: boolean[] = [];
    await foldLog(log(), T0 - 1, (_o, r) => read.push(r));
    expect(read.every((r) => !r)).toBe(true);
  });

  it("defines a view on its own: 201, then 200 for the same definition; 400 for a bad one; 401 without the token", async () => {
    const view = { name: "solo", entity: "user", consistency: "strong", features: [{ name: "a", datatype: "FP32", shape: [] }] } as const;
    const solo = (body: unknown, auth = true) => fra("/admin/features", json(body, auth ? { authorization: `Bearer ${env.ADMIN_TOKEN}` } : {}));
    expect((await solo(view)).status).toBe(201);
    const again = await solo(view);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ view: "solo", created: false });
    expect(await writer.featureView("solo")).toEqual(view);
    const bad = await solo({ ...view, name: "solo2", consistency: "bounded" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'feature view "solo2": consistency "bounded" needs maxStalenessMs' });
    expect((await solo({ ...view, name: "solo3" }, false)).status).toBe(401);
    // Rows go to a view defined this way as to one a manifest declared.
    expect(await writer.putFeatures("solo", [{ entity_id: "s1", values: { a: 1 }, event_time: T0 }])).toMatchObject({ accepted: 1 });
    // The write pinned the entity's home: it outlives the idle TTL, as its values do.
    const home = env.HOMES.get(env.HOMES.idFromName("s1"));
    expect(await runInDurableObject(home, (_i, state) => state.storage.sql.exec<{ pinned: number }>("SELECT pinned FROM home").one().pinned)).toBe(1);
  });

  it("answers 401 without the token, 404 for an unknown view or object, 400 for a malformed id", async () => {
    expect((await fra("/admin/features/hist/log")).status).toBe(401);
    await expectAdminError(writer.featureLog("no_such_view").page(), 404, /unknown feature view "no_such_view"/);
    await expectAdminError(log().read("0000000000000-0000000000000000.jsonl"), 404, /view "hist" has no log object "0000000000000-0000000000000000.jsonl"/);
    await expectAdminError(log().read("../x"), 400, /invalid log object id/);
  });
});

describe("predictions with feature views (strong)", () => {
  const ITEMS = [
    [1, 2],
    [-0.5, 4],
  ];

  it("fills the inputs from the entity's shard in the call that counts it: the same answer as sending them", async () => {
    const now = Date.now();
    await put([{ entity_id: "reader-1", values: { score: 0.75, recent: [3, -1], risk: 0.2 }, event_time: now }]);
    const a = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "reader-1" });
    expect(a.status, a.body.error).toBe(200);
    expect(a.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [0.75, 3, -1, 0.2]));
    expect(a.body.parameters).toEqual({ feature_entity: "reader-1", feature_consistency: "strong", feature_age_ms: 0, feature_defaulted: "", feature_stale: "" });
    // The caller was counted by the same shard that answered the features.
    expect(a.headers.get("x-meridian-shard")).toBe(shardLabel(configOf(env).shardLayout.owner("reader-1", "weur")));
    expect(a.headers.get("x-meridian-requests")).toBe("1");
    const b = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "reader-1" });
    expect(b.headers.get("x-meridian-requests")).toBe("2");
    expect((await shardOf("reader-1").get("reader-1"))?.count).toBe(2);
  });

  it("says the same in a binary answer's JSON header", async () => {
    const { result } = await inferBinary("/v2/models/fv-score/infer", [{ name: "item", datatype: "FP32", shape: [2, 2], values: new Float32Array(ITEMS.flat()) }], { headers: { "x-user-id": "reader-1" } });
    expect(Array.from(result.outputs[0]!.values as Float32Array)).toEqual(await explicit(ITEMS, [0.75, 3, -1, 0.2]));
    expect(result.parameters).toMatchObject({ feature_entity: "reader-1", feature_consistency: "strong", feature_defaulted: "" });
  });

  it("sees a write at once from any PoP: the read goes to the entity's home shard", async () => {
    const now = Date.now();
    await put([{ entity_id: "traveller", values: { score: 0.1, recent: [1, 1], risk: 0 }, event_time: now - 10 }]);
    const first = await predict(sin, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "traveller" });
    expect(first.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [0.1, 1, 1, 0]));
    await put([{ entity_id: "traveller", values: { recent: [2, -2] }, event_time: now }]);
    const second = await predict(sin, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "traveller" });
    expect(second.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [0.1, 2, -2, 0]));
    // SIN is apac, but the traveller's home is weur (first seen at FRA, by the write).
    expect(second.headers.get("x-meridian-shard")).toMatch(/@weur$/);
  });

  it("uses defaults for missing and stale values and says which", async () => {
    const now = Date.now();
    await put([{ entity_id: "sparse", values: { recent: [2, 2], risk: 1 }, event_time: now }]);
    const a = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "sparse" });
    expect(a.status, a.body.error).toBe(200);
    expect(a.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [0.5, 2, 2, 1]));
    expect(a.body.parameters).toMatchObject({ feature_defaulted: "user_stats.score", feature_stale: "" });

    await put([
      { entity_id: "old-score", values: { score: 0.9 }, event_time: now - 2 * MINUTE },
      { entity_id: "old-score", values: { recent: [0, 1], risk: 0.5 }, event_time: now },
    ]);
    const b = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "old-score" });
    expect(b.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [0.5, 0, 1, 0.5]));
    expect(b.body.parameters).toMatchObject({ feature_defaulted: "user_stats.score", feature_stale: "user_stats.score" });
  });

  it("answers 400 for no entity, a missing or stale feature without a default, or a filled input sent", async () => {
    const none = await predict(fra, "fv-score", { inputs: [items(ITEMS)] });
    expect(none.status).toBe(400);
    expect(none.body.error).toMatch(/model "fv-score" reads feature view "user_stats" of a user: name the entity with the x-user-id header or parameters.entity_id/);

    const unknown = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "nobody-at-all" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/entity "nobody-at-all": feature "recent" of view "user_stats" has no value for this entity and no default/);

    await put([{ entity_id: "old-risk", values: { recent: [1, 1], risk: 0.5 }, event_time: Date.now() - 2 * MINUTE }]);
    const stale = await predict(fra, "fv-score", { inputs: [items(ITEMS)] }, { "x-user-id": "old-risk" });
    expect(stale.status).toBe(400);
    expect(stale.body.error).toMatch(/feature "risk" of view "user_stats" is stale \(written .*, older than maxAgeMs 60000\) and has no default/);

    const sent = await predict(fra, "fv-score", { inputs: [items(ITEMS), { name: "user", datatype: "FP32", shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] }] }, { "x-user-id": "reader-1" });
    expect(sent.status).toBe(400);
    expect(sent.body.error).toMatch(/input "user" is filled from feature view "user_stats" at the edge: do not send it/);
  });

  it("shows its views in the model's metadata (the inputs the edge fills)", async () => {
    const meta = (await (await fra("/v2/models/fv-score")).json()) as { properties: { features?: FeatureBinding[] } };
    expect(meta.properties.features).toEqual([userStats()]);
    expect(((await (await fra("/v2/models/fv-plain")).json()) as { properties: object }).properties).not.toHaveProperty("features");
  });

  it("takes the entity from parameters.entity_id, for anonymous callers too", async () => {
    await put([{ entity_id: "named", values: { score: 0.25, recent: [5, 6], risk: 0.75 }, event_time: Date.now() }]);
    const want = await explicit(ITEMS, [0.25, 5, 6, 0.75]);
    const anon = await predict(fra, "fv-score", { inputs: [items(ITEMS)], parameters: { entity_id: "named" } });
    expect(anon.status, anon.body.error).toBe(200);
    expect(anon.body.outputs[0]!.data).toEqual(want);
    expect(anon.body.parameters?.feature_entity).toBe("named");
    expect(anon.headers.get("x-meridian-shard")).toBeNull(); // nobody counted
    // A caller asking about another entity: counted as itself, features of the entity named.
    const other = await predict(fra, "fv-score", { inputs: [items(ITEMS)], parameters: { entity_id: "named" } }, { "x-user-id": "asker" });
    expect(other.body.outputs[0]!.data).toEqual(want);
    expect((await shardOf("asker").get("asker"))?.count).toBe(1);
    // Reading an entity never seen gives it no home (it has no values anywhere): defaults, or a 400.
    const ghost = await predict(sin, "fv-two", { inputs: [items([[1, 1]])], parameters: { entity_id: "ghost" } });
    expect(ghost.status, ghost.body.error).toBe(200);
    expect(ghost.body.parameters?.feature_defaulted).toBe("left.a,right.b");
    expect((await predict(sin, "fv-score", { inputs: [items(ITEMS)], parameters: { entity_id: "ghost" } })).status).toBe(400);
    expect(await env.HOMES.get(env.HOMES.idFromName("ghost")).lookup()).toBeNull();
    const bad = await predict(fra, "fv-score", { inputs: [items(ITEMS)], parameters: { entity_id: 7 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/parameter "entity_id" must be a non-empty string/);
  });

  it("fills one input from two views (defaults for an unknown entity), through /v1/predict too", async () => {
    // fv-two: item from the caller, user from two views with defaults: an unknown entity gets the defaults.
    const a = await predict(fra, "fv-two", { inputs: [items([[1, 1]])] }, { "x-user-id": "someone-new" });
    expect(a.status, a.body.error).toBe(200);
    expect(a.body.outputs[0]!.data).toEqual(await explicit([[1, 1]], [0, 0, 0, 0]));
    expect(a.body.parameters?.feature_defaulted).toBe("left.a,right.b");
    const res = await fra("/v1/predict/fv-two", json({ instances: [[1, 1]] }, { "x-user-id": "someone-new" }));
    const body = (await res.json()) as { predictions: Array<{ y: number[] }>; parameters: Record<string, string> };
    expect(res.status).toBe(200);
    expect(body.predictions[0]!.y).toEqual(a.body.outputs[0]!.data);
    expect(body.parameters.feature_defaulted).toBe("left.a,right.b");
  });
});

describe("a shadow with feature views of its own", () => {
  it("runs on the request as sent, filled from its own views (read after the answer), not the served version's", async () => {
    await publish("fv-shadow", [userStats()]);
    const bytes = scorer();
    const alt = await manifestFor(bytes, { name: "fv-shadow", version: 2, quantization: "none", features: [{ name: "alt_stats", entity: "user", consistency: "strong", features: [{ name: "vec", datatype: "FP32", shape: [4] }], input: "user" }] });
    await admin().publish(alt, bytes, env.TEST_SIGNING_KEY, { promote: false });
    await admin().shadow("fv-shadow", 2, 100, 1);
    const t = Date.now();
    await put([{ entity_id: "sh-same", values: { score: 0.5, recent: [1, 2], risk: 0.25 }, event_time: t }, { entity_id: "sh-other", values: { score: 0.5, recent: [1, 2], risk: 0.25 }, event_time: t }]);
    await put([{ entity_id: "sh-same", values: { vec: [0.5, 1, 2, 0.25] }, event_time: t }, { entity_id: "sh-other", values: { vec: [9, 9, 9, 9] }, event_time: t }], "alt_stats");
    // A shadow's figures go out with the next request's report: a third request flushes the second's.
    for (const entity of ["sh-same", "sh-other", "sh-same"]) {
      const a = await predict(fra, "fv-shadow", { inputs: [items([[1, 2]])] }, { "x-user-id": entity });
      expect(a.status, a.body.error).toBe(200);
      expect(a.body.model_version).toBe("1");
    }
    // The same values in both views agree; other values in the shadow's view disagree.
    let agreement: { agree: number; disagree: number } | undefined;
    for (let i = 0; i < 50 && (agreement?.disagree ?? 0) < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      agreement = (await admin().metrics("fv-shadow", "5m")).versions.find((f) => f.variant === "shadow")?.agreement;
    }
    expect(agreement?.disagree).toBe(1);
    expect(agreement?.agree).toBeGreaterThanOrEqual(1);
  });
});

describe("predictions with feature views (bounded)", () => {
  const ITEMS = [[1, -1]];
  const near = (at: typeof fra, entity: string, headers: Record<string, string> = {}) => predict(at, "fv-near", { inputs: [items(ITEMS)], parameters: { entity_id: entity } }, headers);
  /** The replica of the entity's home shard (weur) in SIN's region (apac). */
  const replicaOf = (entity: string) => env.REPLICAS.get(env.REPLICAS.idFromName(`${configOf(env).shardLayout.owner(entity, "weur").id}@apac`));

  it("answers from a copy in the PoP's region, never older than the bound, and says which it got", async () => {
    const now = Date.now();
    await put([{ entity_id: "far-1", values: { vec: [1, 2, 3, 4] }, event_time: now - 1000 }], "near_stats");
    const v1 = await explicit(ITEMS, [1, 2, 3, 4]);
    // First read in apac: no copy yet, so it is fetched from the home shard (weur) within the read.
    const first = await near(sin, "far-1");
    expect(first.status, first.body.error).toBe(200);
    expect(first.body.outputs[0]!.data).toEqual(v1);
    expect(first.body.parameters).toMatchObject({ feature_consistency: "strong", feature_age_ms: 0 });
    // Then from the copy, while it is younger than the bound: a write meanwhile is not seen yet.
    await put([{ entity_id: "far-1", values: { vec: [5, 6, 7, 8] }, event_time: now }], "near_stats");
    const v2 = await explicit(ITEMS, [5, 6, 7, 8]);
    const second = await near(sin, "far-1");
    expect(second.body.parameters?.feature_consistency).toBe("bounded");
    expect(second.body.parameters?.feature_age_ms).toBeLessThanOrEqual(BOUND);
    expect(second.body.outputs[0]!.data).toEqual(v1);
    // A copy past the bound is never used: the read goes home and sees the write.
    await runInDurableObject(replicaOf("far-1"), (_, state) => {
      state.storage.sql.exec("UPDATE copies SET fetched_at = ?", Date.now() - BOUND - 1);
    });
    const third = await near(sin, "far-1");
    expect(third.body.parameters).toMatchObject({ feature_consistency: "strong", feature_age_ms: 0 });
    expect(third.body.outputs[0]!.data).toEqual(v2);
  });

  it("refreshes copies still being read in the background, before they reach the bound", async () => {
    await put([{ entity_id: "far-2", values: { vec: [1, 1, 1, 1] }, event_time: Date.now() - 10 }], "near_stats");
    await near(sin, "far-2");
    await put([{ entity_id: "far-2", values: { vec: [2, 2, 2, 2] }, event_time: Date.now() }], "near_stats");
    const replica = replicaOf("far-2");
    // Past half the bound: due for a refresh.
    const old = Date.now() - BOUND / 2 - 100;
    await runInDurableObject(replica, (_, state) => {
      state.storage.sql.exec("UPDATE copies SET fetched_at = ?", old);
    });
    expect(await runDurableObjectAlarm(replica)).toBe(true);
    expect((await replica.copiesOf("far-2")).near_stats).toBeGreaterThan(old + BOUND / 2);
    const read = await near(sin, "far-2");
    expect(read.body.parameters?.feature_consistency).toBe("bounded");
    expect(read.body.outputs[0]!.data).toEqual(await explicit(ITEMS, [2, 2, 2, 2]));
  });

  it("reads at home when the home shard is on the path anyway: the caller is the entity, or the PoP is in the home region", async () => {
    await put([{ entity_id: "far-3", values: { vec: [3, 3, 3, 3] }, event_time: Date.now() }], "near_stats");
    const own = await predict(sin, "fv-near", { inputs: [items(ITEMS)] }, { "x-user-id": "far-3" });
    expect(own.status, own.body.error).toBe(200);
    expect(own.body.parameters).toMatchObject({ feature_consistency: "strong", feature_entity: "far-3" });
    expect(own.headers.get("x-meridian-shard")).toMatch(/@weur$/);
    const atHome = await near(fra, "far-3");
    expect(atHome.body.parameters?.feature_consistency).toBe("strong");
    expect(atHome.body.outputs[0]!.data).toEqual(own.body.outputs[0]!.data);
    // No copy was made for either.
    expect(await replicaOf("far-3").copiesOf("far-3")).toEqual({});
  });
});
