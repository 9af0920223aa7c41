// The Worker's V8 inspector (Chrome DevTools protocol) through wrangler dev's inspector proxy, on
// the port given in the config's [dev] inspector_port (bench/host.ts devConfig). workerd's own
// inspector takes one session per Worker and wrangler holds it, so the proxy is the way in. It
// admits local origins only, so the client is `ws` (Node 20's experimental WebSocket carries the
// header, but never delivered answers to Debugger.getScriptSource).
import WebSocket from "ws";

export class Inspector {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.error) p.reject(new Error(`inspector: ${m.error.message}`));
      else p.resolve(m.result ?? {});
    });
  }

  /** A session with the Worker behind the proxy on `port`. */
  static async connect(port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl?: string }[];
    const url = list[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target on port ${port}`);
    const ws = new WebSocket(url, { headers: { origin: "http://127.0.0.1" } });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", (err) => reject(new Error(`inspector at ${url} refused the connection: ${err.message}`)));
    });
    return new Inspector(ws);
  }

  /** One protocol call; its result, or a rejection with the inspector's error or after `timeoutMs`. */
  send<T>(method: string, params: object = {}, timeoutMs = 10_000): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`inspector: no answer to ${method}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (result) => (clearTimeout(timer), resolve(result as T)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}
