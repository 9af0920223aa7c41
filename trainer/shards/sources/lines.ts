// A text file's lines, streamed: the same lines, numbers and decoding as the in-memory loader's
// readFileSync + split(/\r?\n/) (invalid UTF-8 → U+FFFD, a BOM kept for the caller to strip),
// with memory bounded by the longest line rather than the file.
import { createReadStream } from "node:fs";
import { datasetFileError } from "../../data/tabular";

export type Line = { line: string; no: number };

/** Non-blank lines with their 1-based line numbers. */
export async function* readLines(path: string): AsyncGenerator<Line> {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  let rest = "";
  let no = 0;
  const emit = (raw: string): Line | undefined => {
    no++;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    return line.trim() === "" ? undefined : { line, no };
  };
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      rest += decoder.decode(chunk, { stream: true });
      let start = 0;
      for (let nl = rest.indexOf("\n"); nl >= 0; nl = rest.indexOf("\n", start)) {
        const l = emit(rest.slice(start, nl));
        start = nl + 1;
        if (l) yield l;
      }
      rest = rest.slice(start);
    }
  } catch (err) {
    throw datasetFileError(path, err);
  } finally {
    stream.destroy();
  }
  rest += decoder.decode();
  const last = emit(rest);
  if (last) yield last;
}
