// The one failure contract of every `meridian` command: exit code 1 and a single stderr line,
// `meridian: <command> failed: <reason>` (MERIDIAN_DEBUG=1 adds the stack trace after it).
export function action<A extends unknown[]>(verb: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(verb, err);
    }
  };
}

export function fail(verb: string, err: unknown): void {
  process.stderr.write(`meridian: ${verb} failed: ${reason(err)}\n`);
  if (process.env.MERIDIAN_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}

/** The error's whole message on one line (edge errors can carry newlines). */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim() || (err instanceof Error ? err.name : "error");
}
