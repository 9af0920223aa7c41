// `meridian predict`: one inference through the client library (client/), the way an application
// would call the edge. Rows are shaped into the model's single input from its metadata; a whole
// OIP request ({"inputs": [...]}) is sent as given.
import { readFileSync } from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import { MeridianClient, type InferAnswer, type InputTensor, type ModelMetadata, type PlainValues } from "../../client";
import { isDatatype } from "../../shared/datatypes";
import { DEFAULT_TIMEOUT_MS } from "../../shared/admin-client";
import { action } from "../failure";
import { DEFAULT_URL } from "./client";
import { parseModelName, parseSeconds, printJson } from "./common";

interface PredictFlags {
  url?: string;
  timeout?: number;
  json?: boolean;
  version?: string;
  data?: string;
  file?: string;
  binary?: boolean;
  id?: string;
  user?: string;
}

/** What --data or --file holds: rows, {"instances": rows}, or an OIP request. */
type Payload = { rows: PlainValues } | { request: { inputs: InputTensor[]; outputs?: Array<{ name: string; parameters?: Record<string, unknown> }>; parameters?: Record<string, unknown>; id?: string } };

export function registerPredict(program: Command): void {
  program
    .command("predict")
    .description("run <name> on rows (--data or --file) and print its outputs; uses the client library (retries, typed errors)")
    .argument("<name>", "model name", parseModelName)
    .option("--version <v>", "a pinned version instead of the serving one", parseVersionArg)
    .option("--data <json>", 'rows: [[5.1,3.5,1.4,0.2], ...] or ["text", ...] for a text model; or an OIP request {"inputs": [...]}')
    .option("--file <file>", "the same JSON from a file (- for stdin)")
    .option("--binary", "send the inputs and get the outputs as binary tensor data instead of JSON")
    .option("--id <id>", "request id, echoed in the answer")
    .option("--user <id>", "x-user-id: the caller's rate limit and sticky canary key")
    .option("--url <url>", `edge base URL (env MERIDIAN_URL, default ${DEFAULT_URL})`)
    .option("--timeout <seconds>", "fail a request without a complete answer after this long (env MERIDIAN_TIMEOUT, default 30)", parseSeconds)
    .option("--json", "print machine-readable JSON on stdout")
    .action(
      action("predict", async (name: string, flags: PredictFlags) => {
        const payload = readPayload(flags);
        const client = clientFor(flags);
        const request = "request" in payload ? payload.request : { inputs: [await rowsInput(client, name, flags.version, payload.rows)] };
        const answer = await client.infer(name, {
          ...request,
          ...(flags.id !== undefined ? { id: flags.id } : {}),
          ...(flags.version !== undefined ? { version: flags.version } : {}),
          encoding: flags.binary ? "binary" : "json",
          binaryOutputs: flags.binary === true,
        });
        if (flags.json) return printJson(jsonOf(answer, flags.binary ? "binary" : "json"));
        process.stdout.write(humanOf(answer, flags.binary ? "binary" : "json"));
      }),
    );
}

function parseVersionArg(value: string): string {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError("versions are positive integers.");
  return value;
}

function clientFor(flags: PredictFlags, env: NodeJS.ProcessEnv = process.env): MeridianClient {
  const url = flags.url ?? env.MERIDIAN_URL ?? DEFAULT_URL;
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must start with http:// or https:// (got ${url})`);
  const seconds = flags.timeout ?? (env.MERIDIAN_TIMEOUT ? parseSeconds(env.MERIDIAN_TIMEOUT) : DEFAULT_TIMEOUT_MS / 1000);
  return new MeridianClient({ baseUrl: url, timeoutMs: seconds * 1000, ...(flags.user ? { headers: { "x-user-id": flags.user } } : {}) });
}

function readPayload(flags: PredictFlags): Payload {
  if ((flags.data === undefined) === (flags.file === undefined)) throw new Error("give the rows with --data '<json>' or --file <file> (one of them)");
  const text = flags.data ?? readFileSync(flags.file === "-" ? 0 : flags.file!, "utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${flags.data !== undefined ? "--data" : flags.file} is not JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(value)) return { rows: value as PlainValues };
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (Array.isArray(v.instances)) return { rows: v.instances as PlainValues };
    if (Array.isArray(v.inputs)) {
      const inputs = v.inputs.map((raw, i): InputTensor => {
        const t = (raw ?? {}) as Record<string, unknown>;
        const values = t.data ?? t.values;
        if (typeof t.name !== "string" || !isDatatype(t.datatype) || !Array.isArray(t.shape) || !Array.isArray(values)) {
          throw new Error(`inputs[${i}] needs name, datatype (an OIP datatype), shape and data`);
        }
        return { name: t.name, datatype: t.datatype, shape: t.shape as number[], values: values as PlainValues, ...(t.parameters ? { parameters: t.parameters as Record<string, unknown> } : {}) };
      });
      const request: Extract<Payload, { request: unknown }>["request"] = { inputs };
      if (Array.isArray(v.outputs)) request.outputs = v.outputs as NonNullable<typeof request.outputs>;
      if (v.parameters && typeof v.parameters === "object") request.parameters = v.parameters as Record<string, unknown>;
      if (typeof v.id === "string") request.id = v.id;
      return { request };
    }
  }
  throw new Error('expected rows ([[...], ...] or ["text", ...]), {"instances": [...]} or an OIP request {"inputs": [...]}');
}

/** Rows as the model's one input: its datatype, and a shape of [rows, ...each row's shape]; texts as BYTES for a text model. */
async function rowsInput(client: MeridianClient, name: string, version: string | undefined, rows: PlainValues): Promise<InputTensor> {
  const meta: ModelMetadata = await client.metadata(name, version);
  const [spec, ...more] = meta.inputs;
  if (!spec || more.length > 0) {
    throw new Error(`${name} takes ${meta.inputs.length} inputs (${meta.inputs.map((i) => i.name).join(", ")}): give an OIP request {"inputs": [...]} instead of rows`);
  }
  if (rows.length === 0) throw new Error("no rows to predict");
  // One flat row of numbers for a model taking rows of them: that is one row.
  const batch = spec.shape.length >= 2 && !rows.some(Array.isArray) && !rows.every((r) => typeof r === "string") ? [rows] : rows;
  if (batch.every((r) => typeof r === "string")) {
    const text = spec.datatype === "BYTES" || meta.properties.preprocessing !== undefined;
    if (!text) throw new Error(`${name} takes ${spec.datatype} features, not text`);
    return { name: spec.name, datatype: "BYTES", shape: spec.datatype === "BYTES" && spec.shape.length === 2 ? [batch.length, 1] : [batch.length], values: batch };
  }
  return { name: spec.name, datatype: spec.datatype, shape: [batch.length, ...shapeOf(batch[0])], values: batch };
}

function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  return shape;
}

function jsonOf(answer: InferAnswer, encoding: string) {
  const { result, ...meta } = answer;
  return {
    model_name: result.model_name,
    model_version: result.model_version,
    ...(result.id !== undefined ? { id: result.id } : {}),
    outputs: result.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: result.data(o.name) })),
    encoding,
    ...meta,
  };
}

/** A head line (who answered, bytes), then each output with one line per row of its first dimension. */
function humanOf(answer: InferAnswer, encoding: string): string {
  const { result } = answer;
  const lines = [
    `${result.model_name} v${answer.version} (${answer.variant ?? "?"}) at ${answer.pop ?? "?"}, backend ${answer.backend ?? "?"}, route ${answer.route ?? "?"}` +
      `${answer.id !== undefined ? `, id ${answer.id}` : ""}; ${encoding}: ${answer.bytesSent} B sent, ${answer.bytesReceived} B received` +
      (answer.attempts > 1 ? `, ${answer.attempts} attempts` : ""),
  ];
  for (const o of result.outputs) {
    lines.push(`${o.name} ${o.datatype} [${o.shape.join(", ")}]`);
    const data = result.data(o.name);
    const rows = o.shape.length === 0 ? 1 : o.shape[0]!;
    const width = rows === 0 ? 0 : data.length / rows;
    for (let r = 0; r < rows; r++) {
      const row = data.slice(r * width, (r + 1) * width);
      lines.push(`  ${JSON.stringify(o.shape.length <= 1 ? row[0] : row)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}
