// Sends one fuzz case over node:http (not fetch: fetch normalises methods, paths and headers, and
// hides the difference between a server that answered and one that dropped the connection).
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import type { FuzzCase } from "./generate";

export type Outcome =
  | { type: "response"; status: number; headers: IncomingHttpHeaders; body: Buffer; truncated: boolean; ms: number }
  /** The connection failed or timed out before a complete response: what a crash looks like. */
  | { type: "failure"; error: string; ms: number };

/** Bigger answers are cut here (an error message that echoes a large input can be megabytes). */
const MAX_KEPT_BYTES = 16 << 20;
const CHUNK = 64 << 10;

export function keepAliveAgent(concurrency: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: concurrency });
}

export function send(base: URL, c: FuzzCase, agent: Agent, timeoutMs: number): Promise<Outcome> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const headers: OutgoingHttpHeaders = { ...c.headers };
  if (c.body && c.framing === "length") headers["content-length"] = c.body.length;
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    const finish = (o: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request({ host: base.hostname, port: base.port, method: c.method, path: c.path, headers, agent });
    } catch (err) {
      // node:http refused to send it (e.g. an invalid header): a generator bug, not a server answer.
      throw new Error(`case ${c.index} (${c.variant}) cannot be sent: ${err instanceof Error ? err.message : String(err)}`);
    }
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("socket", guard);
    req.on("error", (err) => finish({ type: "failure", error: describe(err), ms: ms() }));
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on("data", (d: Buffer) => {
        if (kept < MAX_KEPT_BYTES) chunks.push(d);
        kept += d.length;
      });
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        finish({ type: "response", status: res.statusCode ?? 0, headers: res.headers, body, truncated: kept > body.length, ms: ms() });
      });
      res.on("error", (err) => finish({ type: "failure", error: `response: ${describe(err)}`, ms: ms() }));
    });
    writeBody(req, c);
  });
}

function writeBody(req: ReturnType<typeof request>, c: FuzzCase): void {
  if (!c.body) return void req.end();
  if (c.framing === "length") return void req.end(c.body);
  // Chunked: in pieces, without a content-length.
  for (let at = 0; at < c.body.length; at += CHUNK) req.write(c.body.subarray(at, at + CHUNK));
  req.end();
}

// A server may answer early (a 413) and close while a body is still being written: the write then
// fails on a socket that no request listens on any more. The request reports its own failure;
// the socket's late error must not end the run.
const guarded = new WeakSet<object>();
function guard(socket: NodeJS.EventEmitter): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  socket.on("error", () => {});
}

const describe = (err: Error & { code?: string }) => (err.code ? `${err.code}: ${err.message}` : err.message);
