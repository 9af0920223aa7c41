// JSON lines from a child's stdout (the CLI's --json events): one callback per object, in order;
// a line that is not a JSON object (a stray print) is skipped.
import type { Readable } from "node:stream";

export function onJsonLines<T = Record<string, unknown>>(stream: Readable, onObject: (o: T) => void): void {
  let buf = "";
  stream.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      if (o !== null && typeof o === "object") onObject(o as T);
    }
  });
}
