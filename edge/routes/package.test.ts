import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../shared/hash";
import type { Manifest } from "../../shared/manifest";
import { verifyManifest } from "../../shared/signing";
import { IRIS_ROWS, get, irisRequest, post } from "../../test/edge/client";
import { admin, fixture, seed } from "../../test/edge/seed";

/** A copy of iris that opts in to downloads: the same bytes as iris (which does not). */
const DOWNLOADABLE = "iris-dl";
const ORIGIN = "https://app.example";

interface PackageBody {
  manifest: Manifest;
  signature: string;
  artifact: string;
}

beforeAll(async () => {
  await seed(["iris", "iris-int8"]);
  const client = admin();
  if (await client.model(DOWNLOADABLE)) return;
  const { manifest, bytes } = fixture("iris");
  // v1 opts in and serves; v2 (same bytes) does not opt in and is only registered, for now.
  await client.publish({ ...manifest, name: DOWNLOADABLE, serving: { download: true } }, bytes, env.TEST_SIGNING_KEY, { promote: true });
  await client.register({ ...manifest, name: DOWNLOADABLE }, env.TEST_SIGNING_KEY);
});

describe("packages for local execution", () => {
  it("hands out the serving version's signed manifest and its artifact when the manifest opts in", async () => {
    const { manifest: iris, bytes } = fixture("iris");
    for (const path of [`/v2/models/${DOWNLOADABLE}/package`, `/v2/models/${DOWNLOADABLE}/versions/1/package`]) {
      const res = await get(path);
      const body = await res.json<PackageBody>();
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(res.headers.get("x-meridian-model-version")).toBe("1");
      expect(body.manifest).toMatchObject({ name: DOWNLOADABLE, version: 1, sha256: iris.sha256, size: iris.size, serving: { download: true } });
      expect(body.artifact).toBe(`/v2/artifacts/${iris.sha256}`);
      // What a browser checks: the signature over the manifest as it arrived.
      expect(await verifyManifest(body.manifest, body.signature, [env.SIGNING_PUBLIC_KEYS!])).toBe(true);
    }
    const res = await get(`/v2/artifacts/${iris.sha256}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(res.headers.get("etag")).toBe(`"${iris.sha256}"`);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got).toEqual(bytes);
    expect(await sha256Hex(got)).toBe(iris.sha256);
    // Immutable: a copy the browser holds is always current.
    const again = await get(`/v2/artifacts/${iris.sha256}`, { headers: { "if-none-match": `"${iris.sha256}"` } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
  });

  it("refuses a version that did not opt in, and artifacts only such versions use", async () => {
    const int8 = fixture("iris-int8").manifest;
    for (const path of ["/v2/models/iris/package", "/v2/models/iris/versions/1/package", `/v2/models/${DOWNLOADABLE}/versions/2/package`]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect((await res.json<{ error: string }>()).error).toMatch(/version \d is not published for download \(its manifest has no serving\.download\)/);
    }
    for (const path of [`/v2/artifacts/${int8.sha256}`, `/v2/artifacts/${"0".repeat(64)}`, "/v2/artifacts/not-a-sha"]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect((await res.json<{ error: string }>()).error).toMatch(/^no downloadable artifact/);
    }
    const unknown = await get("/v2/models/no-such-model/package");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown model "no-such-model"' });
  });

  it("follows the serving pointer: once a version without opt-in serves, the unpinned package is refused", async () => {
    const client = admin();
    await client.promote(DOWNLOADABLE, 2, 1);
    try {
      const res = await get(`/v2/models/${DOWNLOADABLE}/package`);
      expect(res.status).toBe(404);
      // The pinned v1 still opted in, and so do its bytes.
      expect((await get(`/v2/models/${DOWNLOADABLE}/versions/1/package`)).status).toBe(200);
      expect((await get(`/v2/artifacts/${fixture("iris").manifest.sha256}`)).status).toBe(200);
    } finally {
      await client.promote(DOWNLOADABLE, 1, 2);
    }
    expect((await get(`/v2/models/${DOWNLOADABLE}/package`)).status).toBe(200);
  });
});

describe("CORS", () => {
  it("answers preflights of the public routes", async () => {
    const paths = ["/v2/models/iris/infer", "/v2/models/iris/versions/1/infer", "/v1/predict/iris", `/v2/models/${DOWNLOADABLE}/package`, `/v2/artifacts/${"a".repeat(64)}`, "/v2/health/live", "/v2"];
    for (const path of paths) {
      const res = await get(path, {
        method: "OPTIONS",
        headers: { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type, inference-header-content-length, x-user-id" },
      });
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin"), path).toBe("*");
      expect(res.headers.get("access-control-allow-methods")?.split(","), path).toEqual(expect.arrayContaining(["GET", "POST"]));
      expect(res.headers.get("access-control-allow-headers")?.split(","), path).toEqual(["content-type", "inference-header-content-length", "x-user-id"]);
      expect(res.headers.get("access-control-allow-credentials"), path).toBeNull();
    }
  });

  it("lets a page read the answer and the x-meridian-* headers, errors included", async () => {
    // A caller key, so the answer carries the caller-state and rate-limit headers too.
    const res = await post("/v2/models/iris/infer", irisRequest(IRIS_ROWS), { headers: { origin: ORIGIN, "content-type": "application/json", "x-user-id": "page-1" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const exposed = res.headers.get("access-control-expose-headers")!.split(/, ?/);
    const carried = [...res.headers.keys()].filter((h) => /^(x-meridian-|ratelimit-)/.test(h));
    expect(carried).toEqual(expect.arrayContaining(["x-meridian-pop", "x-meridian-backend", "x-meridian-model-version", "x-meridian-variant", "x-meridian-route", "x-meridian-shard", "ratelimit-limit"]));
    expect(exposed, "every x-meridian-* and ratelimit-* header an answer carries is exposed").toEqual(expect.arrayContaining(carried));

    const bad = await post("/v2/models/iris/infer", { inputs: [] }, { headers: { origin: ORIGIN, "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("access-control-allow-origin")).toBe("*");
    const refused = await get("/v2/models/iris/package", { headers: { origin: ORIGIN } });
    expect(refused.status).toBe(404);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("gives the admin, metrics and dashboard routes no CORS headers", async () => {
    const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}`, origin: ORIGIN };
    const answers = [
      await get("/admin/models", { headers: auth }),
      await get("/admin/models", { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "GET", "access-control-request-headers": "authorization" } }),
      await get("/metrics", { headers: auth }),
      await get("/metrics", { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "GET" } }),
      await get("/dashboard", { headers: { origin: ORIGIN } }),
      await get("/dashboard/data", { headers: auth }),
    ];
    expect(answers[0]!.status).toBe(200);
    for (const res of answers) {
      await res.arrayBuffer();
      expect(res.status).not.toBe(204);
      expect([...res.headers.keys()].filter((h) => h.startsWith("access-control-")), res.url).toEqual([]);
    }
  });
});
