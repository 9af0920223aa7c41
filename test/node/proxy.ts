// A real HTTP proxy in this process, in front of a real edge, that misbehaves on cue: answers
// some requests itself (a 503, say), resets connections, or holds requests before forwarding
// them. The client's retry and hedging tests use it; it counts what it saw, including callers
// that gave up on it (aborted) before it answered.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ProxyAction =
  | { kind: "forward"; delayMs?: number }
  | { kind: "answer"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "reset" };

export interface TestProxy {
  url: string;
  /** Requests received, whatever was done with them. */
  readonly requests: number;
  /** Requests passed on to the upstream. */
  readonly forwarded: number;
  /** Requests whose caller closed the connection before the proxy answered. */
  readonly aborted: number;
  /** What to do with request number i (0-based); forward at once by default. */
  plan: (i: number) => ProxyAction;
  /** Resolves once `aborted` reaches n (a close event comes a moment after the client aborts). */
  waitForAborted(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(upstream: string, plan: TestProxy["plan"] = () => ({ kind: "forward" })): Promise<TestProxy> {
  const target = new URL(upstream);
  const counts = { requests: 0, forwarded: 0, aborted: 0 };
  const waiters: Array<() => void> = [];
  const state = { plan };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const action = state.plan(counts.requests++);
    let answered = false;
    let cancel = () => {};
    res.on("close", () => {
      if (!answered && !res.writableFinished) {
        counts.aborted++;
        cancel();
        for (const w of waiters.splice(0)) w();
      }
    });
    if (action.kind === "reset") {
      answered = true; // our own doing, not the caller's
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (action.kind === "answer") {
      answered = true;
      res.writeHead(action.status, { "content-type": "application/json", ...action.headers });
      res.end(action.body ?? JSON.stringify({ error: `the test proxy answers ${action.status}` }));
      return;
    }
    if (action.delayMs) {
      const held = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), action.delayMs);
        cancel = () => (clearTimeout(timer), resolve(false));
      });
      if (!held) return; // the caller went away while the request was held
    }
    counts.forwarded++;
    const up = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (answer) => {
        answered = true;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    cancel = () => up.destroy();
    up.on("error", () => res.destroy());
    up.end(Buffer.concat(chunks));
  };

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return counts.requests;
    },
    get forwarded() {
      return counts.forwarded;
    },
    get aborted() {
      return counts.aborted;
    },
    get plan() {
      return state.plan;
    },
    set plan(p) {
      state.plan = p;
    },
    async waitForAborted(n, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (counts.aborted < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the proxy saw ${counts.aborted} aborted requests, expected ${n}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(timer), resolve()));
        });
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
