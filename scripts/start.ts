// `npm start`: local wrangler dev with simulated D1/R2/KV/DO (.wrangler/state, or
// MERIDIAN_STATE_DIR) and the sample models published through the admin API, signed with the
// local dev key. Prints "meridian: ready to predict on <url> (N models)" once every sample model
// answers its ready route: wrangler's own "Ready" and /v2/health/ready come before the seeding.
import { DEFAULT_STATE, DEV_DIR, startSeeded } from "../dev/local";

const port = Number(process.env.PORT ?? 8787);
const stateDir = process.env.MERIDIAN_STATE_DIR || DEFAULT_STATE;

// Handlers first: a stop signal while starting or seeding stops wrangler too. (wrangler runs
// under the reaper, so it also goes if this process dies without handling anything.)
const stop = new AbortController();
let server: Awaited<ReturnType<typeof startSeeded>> | undefined;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stop.signal.aborted) return; // npm and tsx pass the same signal on: once is enough
    stop.abort();
    if (server) void server.stop().then(() => process.exit(0));
  });
}

/** Every model's ready route answers 200 (it loads the model in the isolate, so predictions work). */
async function modelsReady(url: string, names: string[]): Promise<void> {
  const until = Date.now() + 60_000;
  for (const name of names) {
    for (;;) {
      stop.signal.throwIfAborted();
      const res = await fetch(`${url}/v2/models/${name}/ready`).catch(() => null);
      if (res?.ok) break;
      if (Date.now() > until) throw new Error(`${name} not ready: ${res ? `${res.status} ${await res.text()}` : "no answer"}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

console.log(`meridian: starting wrangler dev on http://127.0.0.1:${port}`);
try {
  server = await startSeeded({ port, stateDir, inheritOutput: true, signal: stop.signal, log: (line) => console.log(`meridian: ${line}`) });
  await modelsReady(server.url, server.models);
} catch (err) {
  await server?.stop();
  if (stop.signal.aborted) process.exit(0);
  console.error(`meridian: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
server.process.on("exit", (code) => {
  if (stop.signal.aborted) return; // stopping: the signal handler exits
  console.error(`meridian: wrangler dev exited (${code ?? server?.process.signalCode})`);
  process.exit(code || 1);
});
console.log(`
  curl -s ${server.url}/v2/models/iris/infer -d '{"inputs":[{"name":"measurements","datatype":"FP32","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}'
  CLI credentials for this local edge:
    export MERIDIAN_URL=${server.url} MERIDIAN_TOKEN=$(cat ${DEV_DIR}/admin-token) MERIDIAN_SIGNING_KEY_FILE=${DEV_DIR}/meridian-signing.key

meridian: ready to predict on ${server.url} (${server.models.length} models)`);
