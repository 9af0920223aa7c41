// Errors that end a command with a one-line reason (no stack trace).
export class UsageError extends Error {
  override name = "UsageError";
}

/** Error classes whose message is meant for the user as is. */
const USER_FACING = new Set([
  "UsageError",
  "DatasetError",
  "BackendError",
  "FeaturizerError",
  "ExportError",
  "ClusterError",
  "RedisUnavailableError",
]);

export function isUserFacing(err: unknown): err is Error {
  return err instanceof Error && USER_FACING.has(err.name);
}

export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0]!.trim() || (err instanceof Error ? err.name : "error");
}
