// Seeds the simulated D1/R2/KV of a test file with the fixture models.
import { applyD1Migrations, env } from "cloudflare:test";
import { inject } from "vitest";
import { publishVersion } from "../../edge/versions/publish";
import type { Manifest } from "../../shared/manifest";

export function fixture(name: string): { manifest: Manifest; bytes: Uint8Array } {
  const m = inject("models").find((f) => f.manifest.name === name);
  if (!m) throw new Error(`no fixture model ${name}`);
  return { manifest: m.manifest, bytes: Uint8Array.from(atob(m.onnx), (ch) => ch.charCodeAt(0)) };
}

export async function seed(names = ["iris", "iris-int8", "dtypes"]): Promise<void> {
  await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
  for (const name of names) {
    const { manifest, bytes } = fixture(name);
    await publishVersion(env, manifest, bytes, { serve: true });
  }
}
