// The client's browser mode in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) against a seeded `wrangler dev`: a downloadable copy of iris runs in the page
// on onnxruntime-web and answers as the edge does; a tampered signature, an untrusted key or
// tampered bytes are refused and the edge answers; so it does for a model without download opt-in.
// The page comes from a static server of its own (another origin than the edge: CORS is real).
import { execFile } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, devCredentials, freePort, startSeeded, type DevServer } from "../../dev/local";
import { IRIS_LABELS, irisData, irisSpec, irisWeights } from "../../dev/samples/iris";
import { AdminClient } from "../../shared/admin-client";
import { buildMlpFp32 } from "../../shared/onnx/mlp";
import { manifestFor } from "../../shared/onnx/manifest";
import { generateKeyPair } from "../../shared/signing";
import type { Outcome, PageApi, RunArgs } from "./browser/page";

const run = promisify(execFile);
const DOWNLOADABLE = "iris-web";
const ORT_DIST = join(ROOT, "node_modules", "onnxruntime-web", "dist");
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update"];

const state = mkdtempSync(join(tmpdir(), "meridian-browser-e2e-"));
let edge: DevServer | undefined;
let statics: Server | undefined;
let browser: Browser | undefined;
/** A second Chromium with a WebGPU adapter: SwiftShader, its software Vulkan (no GPU here). */
let gpuBrowser: Browser | undefined;
let page: Page;
let publicKey: string;
let pageUrl: string;
/** All 150 iris rows. */
let rows: number[][];

/** Serves the page, its bundle and ort's .wasm/.mjs files; nothing else. */
function staticServer(bundle: string): Server {
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>meridian browser mode</title></head><body><script type="module" src="/page.js"></script></body></html>';
  return createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (path === "/") return send(200, "text/html; charset=utf-8", html);
    if (path === "/page.js") return send(200, "text/javascript", readFileSync(bundle));
    const file = path.startsWith("/ort/") ? basename(path) : "";
    if (/^ort-wasm-simd-threaded[.a-z]*\.(wasm|mjs)$/.test(file)) {
      return send(200, file.endsWith(".wasm") ? "application/wasm" : "text/javascript", readFileSync(join(ORT_DIST, file)));
    }
    send(404, "text/plain", "not found");
  });
}

const call = <K extends "local" | "remote">(method: K, args: Parameters<PageApi[K]>[0], on: Page = page): Promise<Outcome> =>
  on.evaluate(([m, a]) => (globalThis as unknown as { meridian: PageApi }).meridian[m](a as RunArgs), [method, args] as const);

beforeAll(async () => {
  const credentials = await devCredentials(join(state, "credentials"));
  publicKey = credentials.publicKey;
  edge = await startSeeded({ stateDir: join(state, "wrangler"), credentials });

  // The sample iris again, published as its own model whose signed manifest opts in to downloads.
  const bytes = buildMlpFp32(irisSpec(irisWeights().layers));
  const manifest = await manifestFor(bytes, { name: DOWNLOADABLE, version: 1, quantization: "none", labels: { probabilities: [...IRIS_LABELS] }, serving: { download: true } });
  await new AdminClient(edge.url, credentials.adminToken, { actor: "browser-test" }).publish(manifest, bytes, credentials.privateKey, { promote: true });

  const { x } = irisData();
  rows = Array.from({ length: x.length / 4 }, (_, r) => Array.from(x.subarray(r * 4, r * 4 + 4)));

  const bundle = join(state, "page.js");
  await run(join(ROOT, "node_modules", ".bin", "esbuild"), [join(ROOT, "test/node/browser/page.ts"), "--bundle", "--format=esm", "--platform=browser", `--outfile=${bundle}`, "--log-level=warning"], { cwd: ROOT });
  const port = await freePort();
  statics = staticServer(bundle);
  await new Promise<void>((resolve, reject) => statics!.once("error", reject).listen(port, "127.0.0.1", resolve));
  pageUrl = `http://127.0.0.1:${port}/`;

  // Playwright's default handleSIGINT/SIGTERM/SIGHUP close the browser if we are stopped; with
  // the pipe transport Chromium also exits when this process dies outright.
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [...CHROMIUM_ARGS, "--disable-gpu"],
  });
  page = await openPage(browser);
}, 300_000);

async function openPage(b: Browser): Promise<Page> {
  const p = await (await b.newContext()).newPage();
  p.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  await p.goto(pageUrl);
  await p.waitForFunction(() => document.body.dataset["ready"] === "1");
  return p;
}

afterAll(async () => {
  // Each stop runs whatever failed before it.
  try {
    await Promise.all([browser?.close(), gpuBrowser?.close()]);
  } finally {
    try {
      if (statics) {
        statics.closeAllConnections();
        await new Promise<void>((resolve) => statics!.close(() => resolve()));
      }
    } finally {
      await edge?.stop();
      rmSync(state, { recursive: true, force: true });
    }
  }
});

const inferences = (o: Outcome) => o.fetched.filter((u) => u.endsWith("/infer"));

describe("the client's browser mode in Chromium", () => {
  let remote: Outcome;

  it("runs a downloadable model in the page, answering as the edge does", async () => {
    const gpu = await page.evaluate(() => (globalThis as unknown as { meridian: PageApi }).meridian.gpu());
    console.log(`navigator.gpu: ${gpu.navigatorGpu ? "present" : "absent"}, adapter: ${gpu.adapter ? "yes" : "no"} (${gpu.detail})`);

    remote = await call("remote", { baseUrl: edge!.url, model: DOWNLOADABLE, rows });
    expect(remote.where).toBe("remote");
    expect(remote.backend).toBe("wasm"); // the PoP's, read cross-origin (x-meridian-* exposed)
    expect(remote.pop).toBeTruthy();

    const local = await call("local", { baseUrl: edge!.url, model: DOWNLOADABLE, publicKeys: [publicKey], rows });
    console.log(`local inference of ${DOWNLOADABLE} in Chromium: backend ${local.backend}, load ${local.loadMs.toFixed(0)} ms, infer (150 rows) ${local.inferMs.toFixed(1)} ms; fetched ${local.fetched.join(", ")}`);
    expect(local.reason).toBeNull();
    expect(local.where).toBe("local");
    expect(local.backend).toBe(gpu.adapter ? expect.stringMatching(/^(webgpu|wasm)$/) : "wasm");
    expect(local.version).toBe("1");
    expect(local.variant).toBe("stable");
    expect(local.pop).toBeNull();
    // The package and the artifact only: no inference request left the page.
    expect(local.fetched.map((u) => new URL(u).pathname)).toEqual([`/v2/models/${DOWNLOADABLE}/package`, expect.stringMatching(/^\/v2\/artifacts\/[0-9a-f]{64}$/)]);

    expect(local.labels).toEqual(remote.labels);
    expect(local.probabilities).toHaveLength(rows.length * 3);
    const diff = Math.max(...local.probabilities.map((p, i) => Math.abs(p - remote.probabilities[i]!)));
    console.log(`local against the edge: 150 labels equal, max |Δp| ${diff}`);
    expect(diff).toBeLessThanOrEqual(1e-6);
    // It is a classifier: the labels are the data set's nearly everywhere (98.7% on the edge).
    const { y } = irisData();
    expect(local.labels.filter((l, i) => Number(l) === y[i]).length).toBeGreaterThanOrEqual(145);
  });

  it("runs on WebGPU when the browser has an adapter", async () => {
    gpuBrowser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [...CHROMIUM_ARGS, "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader"],
    });
    const gpuPage = await openPage(gpuBrowser);
    const gpu = await gpuPage.evaluate(() => (globalThis as unknown as { meridian: PageApi }).meridian.gpu());
    console.log(`with SwiftShader: navigator.gpu ${gpu.navigatorGpu ? "present" : "absent"}, adapter: ${gpu.adapter ? "yes" : "no"} (${gpu.detail})`);
    expect(gpu.adapter).toBe(true);
    const local = await call("local", { baseUrl: edge!.url, model: DOWNLOADABLE, publicKeys: [publicKey], rows }, gpuPage);
    const diff = Math.max(...local.probabilities.map((p, i) => Math.abs(p - remote.probabilities[i]!)));
    console.log(`local inference on SwiftShader WebGPU: ${local.where}, backend ${local.backend}, load ${local.loadMs.toFixed(0)} ms, infer ${local.inferMs.toFixed(1)} ms, max |Δp| ${diff}`);
    expect(local.reason).toBeNull();
    expect(local.where).toBe("local");
    expect(local.backend).toBe("webgpu");
    expect(local.labels).toEqual(remote.labels);
    expect(diff).toBeLessThanOrEqual(1e-6);
  });

  it("refuses a tampered signature and answers from the PoP", async () => {
    const o = await call("local", { baseUrl: edge!.url, model: DOWNLOADABLE, publicKeys: [publicKey], rows, tamper: "signature" });
    console.log(`tampered signature: ${o.where}, ${o.reason}`);
    expect(o.where).toBe("remote");
    expect(o.reason).toMatch(/^signature: the manifest of iris-web does not verify with any of the 1 configured public key\(s\); refused$/);
    // Nothing past the package was downloaded: the artifact of an unverified manifest is never asked for.
    expect(o.fetched.some((u) => u.includes("/v2/artifacts/"))).toBe(false);
    expect(inferences(o)).toHaveLength(1);
    expect(o.labels).toEqual(remote.labels);
    expect(o.probabilities).toEqual(remote.probabilities);
  });

  it("refuses a signature by a key it does not trust", async () => {
    const other = (await generateKeyPair()).publicKey;
    const o = await call("local", { baseUrl: edge!.url, model: DOWNLOADABLE, publicKeys: [other], rows });
    console.log(`untrusted key: ${o.where}, ${o.reason}`);
    expect(o.where).toBe("remote");
    expect(o.reason).toMatch(/^signature: .* does not verify/);
    expect(o.labels).toEqual(remote.labels);
  });

  it("refuses bytes that do not hash to the signed sha256", async () => {
    const o = await call("local", { baseUrl: edge!.url, model: DOWNLOADABLE, publicKeys: [publicKey], rows, tamper: "artifact" });
    console.log(`tampered artifact: ${o.where}, ${o.reason}`);
    expect(o.where).toBe("remote");
    expect(o.reason).toMatch(/^artifact: the bytes hash to sha256 [0-9a-f]{64}, the signed manifest says [0-9a-f]{64}; refused$/);
    expect(o.labels).toEqual(remote.labels);
  });

  it("falls back to the PoP for a model without download opt-in", async () => {
    const o = await call("local", { baseUrl: edge!.url, model: "iris", publicKeys: [publicKey], rows });
    console.log(`iris (no opt-in): ${o.where}, ${o.reason}`);
    expect(o.where).toBe("remote");
    expect(o.reason).toBe('package: 404 model "iris" version 1 is not published for download (its manifest has no serving.download)');
    expect(o.backend).toBe("wasm");
    expect(o.fetched.map((u) => new URL(u).pathname)).toEqual(["/v2/models/iris/package", "/v2/models/iris/infer"]);
    // The same bytes as iris-web: the same answers.
    expect(o.labels).toEqual(remote.labels);
  });
});

