// `npm start`: local wrangler dev with simulated D1/R2/KV/DO (.wrangler/state) and the sample
// models published through the admin API, signed with the local dev key.
import { DEV_DIR, startSeeded } from "./local";

const port = Number(process.env.PORT ?? 8787);
console.log(`meridian: starting wrangler dev on http://127.0.0.1:${port}`);
const server = await startSeeded({ port, inheritOutput: true, log: (line) => console.log(`meridian: ${line}`) });
console.log(`
meridian: serving on ${server.url}
  curl -s ${server.url}/v2/models/iris/infer -d '{"inputs":[{"name":"measurements","datatype":"FP32","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}'
  CLI credentials for this local edge:
    export MERIDIAN_URL=${server.url} MERIDIAN_TOKEN=$(cat ${DEV_DIR}/admin-token) MERIDIAN_SIGNING_KEY_FILE=${DEV_DIR}/meridian-signing.key
`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => void server.stop().then(() => process.exit(0)));
}
server.process.on("exit", (code) => process.exit(code ?? 0));
