// JSON text with hand-made pieces spliced in: the fuzzer needs bodies JSON.stringify cannot
// produce (1e400, duplicate keys, 200,000 levels of nesting without building them as objects).

/** A piece of text inserted verbatim where a value goes. */
export class Raw {
  constructor(readonly text: string) {}
}

export type Json = null | boolean | number | string | Raw | Json[] | { [key: string]: Json };

/** Serialises `value`; only the fuzzer's own shallow values pass here, so recursion is safe. */
export function toJson(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** `inner` wrapped in `depth` arrays: [[[...inner...]]]. */
export const nestedArrays = (depth: number, inner = "1"): Raw => new Raw("[".repeat(depth) + inner + "]".repeat(depth));

/** `inner` wrapped in `depth` objects: {"a":{"a":...inner...}}. */
export const nestedObjects = (depth: number, inner = "1"): Raw => new Raw('{"a":'.repeat(depth) + inner + "}".repeat(depth));

/** An object literal with keys in the given order, duplicates allowed. */
export const objectWith = (entries: ReadonlyArray<readonly [string, Json]>): Raw =>
  new Raw(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(",")}}`);

const encoder = new TextEncoder();
export const utf8 = (text: string): Uint8Array => encoder.encode(text);
export const bodyOf = (value: Json): Uint8Array => utf8(toJson(value));
