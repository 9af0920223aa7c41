// `npm start`: seed the local registry with the sample models, then serve them with wrangler dev.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT, WRANGLER_ENV, seed } from "./local";

const port = process.env.PORT ?? "8787";
console.log("meridian: seeding local D1/R2/KV (.wrangler/state) with the sample models");
await seed(undefined, (line) => console.log(`  ${line}`));
console.log(`meridian: starting wrangler dev on http://127.0.0.1:${port}`);
const child = spawn(join(ROOT, "node_modules", ".bin", "wrangler"), ["dev", "--port", port, "--ip", "127.0.0.1"], {
  cwd: ROOT,
  env: { ...WRANGLER_ENV, CI: process.env.CI ?? "" },
  stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
