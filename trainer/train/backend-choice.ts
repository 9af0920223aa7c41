// Backend names and their parsing, without loading TensorFlow.js (the CLI checks flags first).
export const BACKEND_CHOICES = ["auto", "node-gpu", "node", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, "auto">;

export class BackendError extends Error {
  override name = "BackendError";
}

export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? "auto").trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new BackendError(`unknown backend "${value}" (expected one of: ${BACKEND_CHOICES.join(", ")})`);
}
