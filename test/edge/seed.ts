// Seeds a test file's registry through the real admin API (upload, register, promote).
import { SELF, applyD1Migrations, env } from "cloudflare:test";
import { expect, inject } from "vitest";
import { AdminClient, AdminError } from "../../shared/admin-client";
import type { Manifest } from "../../shared/manifest";

export function fixture(name: string): { manifest: Manifest; bytes: Uint8Array } {
  const m = inject("models").find((f) => f.manifest.name === name);
  if (!m) throw new Error(`no fixture model ${name}`);
  return { manifest: m.manifest, bytes: Uint8Array.from(atob(m.onnx), (ch) => ch.charCodeAt(0)) };
}

export const admin = (token = env.ADMIN_TOKEN) => new AdminClient("http://edge", token, { fetch: (input, init) => SELF.fetch(input, init), actor: "test" });

export async function seed(names = ["iris", "iris-int8", "dtypes"]): Promise<void> {
  await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
  const client = admin();
  for (const name of names) {
    const { manifest, bytes } = fixture(name);
    const known = await client.model(name);
    if (known?.versions.some((v) => v.sha256 === manifest.sha256 && v.version === known.serving)) continue;
    await client.publish(manifest, bytes, env.TEST_SIGNING_KEY, { promote: true });
  }
}

/** Asserts that an admin call fails with `status` and an error text matching `pattern`. */
export async function expectAdminError(p: Promise<unknown>, status: number, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdminError);
  expect((err as AdminError).status, (err as AdminError).message).toBe(status);
  expect((err as AdminError).body.error).toMatch(pattern);
}
