import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { seed } from "../../test/edge/seed";

beforeAll(() => seed());

describe("health and metadata", () => {
  it("is live", async () => {
    const res = await SELF.fetch("http://edge/v2/health/live");
    expect(res.status).toBe(200);
  });

  it("is ready once the WASM runtime has started", async () => {
    const res = await SELF.fetch("http://edge/v2/health/ready");
    const body = await res.json<{ ready: boolean; runtime: { status: string; backend: string } }>();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.runtime).toMatchObject({ status: "ready", backend: "wasm" });
  });

  it("describes the server", async () => {
    const res = await SELF.fetch("http://edge/v2");
    expect(await res.json()).toMatchObject({ name: "meridian", extensions: ["classification"] });
  });
});
