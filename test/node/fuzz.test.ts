// The short fuzz run: every kind of bad request (15 of each, ~400 in all, seeded) against a real
// `wrangler dev` with the sample models. `npm run fuzz` is the full run (10,000 by default).
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Failure } from "../fuzz/classify";
import { KINDS } from "../fuzz/generate";
import { groupFailures } from "../fuzz/report";
import { runFuzz } from "../fuzz/run";
import { startFuzzServer, type FuzzServer } from "../fuzz/server";

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const COUNT = KINDS.length * 15;
const MAX_BODY_BYTES = 4 << 20; // wrangler.toml

let server: FuzzServer;

beforeAll(async () => {
  server = await startFuzzServer({ handleSignals: false });
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

/** One line per failure class, with a reproducer: what the assertion shows when it fails. */
const describeGroup = (g: { class: string; status: number | null; count: number; example: Failure }) =>
  `${g.class}${g.status ? ` ${g.status}` : ""} x${g.count}: ${g.example.error.slice(0, 160)} <- #${g.example.repro.index} ${g.example.repro.variant}: ` +
  `${g.example.repro.method} ${g.example.repro.path.slice(0, 100)} ${g.example.repro.bodySample.slice(0, 120)}`;

it(`answers ${COUNT} bad requests without a 5xx, a dropped connection or a non-JSON error, and still predicts the same`, async () => {
  const reloadsBefore = server.reloads();
  const { tally, check } = await runFuzz({
    url: server.url,
    ctx: { models: server.models, adminToken: server.adminToken, maxBodyBytes: MAX_BODY_BYTES },
    seed: SEED,
    count: COUNT,
    concurrency: 8,
    timeoutMs: 30_000,
    controlEvery: 50,
  });
  expect(tally.sent).toBe(COUNT);
  // Error pages of wrangler's own proxy are the harness, not the Worker (see test/fuzz/classify.ts).
  expect(groupFailures(tally.failures).filter((g) => g.class !== "harness").map(describeGroup)).toEqual([]);
  expect(check).toEqual({ ok: true, changed: [] });
  // A reload mid-run would fail requests for reasons of the harness: the run would not count.
  expect(server.reloads() - reloadsBefore).toBe(0);
}, 120_000);
