// Write side of the registry: stores a verified artifact (R2, by sha256), its version row (D1)
// and, when asked, makes it the serving version (KV pointer). Used to seed local state.
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { sha256Hex } from "../../shared/hash";
import { parseManifest, type Manifest } from "../../shared/manifest";
import { artifactKey, pointerKey, type Pointer } from "./pointer";
import { models, versions } from "./schema";

export interface Stores {
  ARTIFACTS: R2Bucket;
  POINTERS: KVNamespace;
  DB: D1Database;
}

export async function publishVersion(
  stores: Stores,
  manifestInput: unknown,
  bytes: Uint8Array,
  opts: { serve: boolean; pushedBy?: string },
): Promise<Manifest> {
  const manifest = parseManifest(manifestInput);
  const digest = await sha256Hex(bytes);
  if (digest !== manifest.sha256 || bytes.byteLength !== manifest.size) {
    throw new Error(`artifact does not match manifest ${manifest.name}@${manifest.version} (sha256 ${digest})`);
  }
  await stores.ARTIFACTS.put(artifactKey(digest), bytes, { sha256: digest });
  const orm = drizzle(stores.DB);
  const now = new Date().toISOString();
  await orm.insert(models).values({ name: manifest.name, createdAt: now }).onConflictDoNothing();
  const existing = await orm
    .select({ sha256: versions.sha256 })
    .from(versions)
    .where(and(eq(versions.model, manifest.name), eq(versions.version, manifest.version)))
    .get();
  // Versions are immutable: republishing the same bytes is a no-op, other bytes are refused.
  if (existing && existing.sha256 !== digest) {
    throw new Error(`${manifest.name}@${manifest.version} already exists with another artifact`);
  }
  if (!existing) {
    await orm.insert(versions).values({
      model: manifest.name,
      version: manifest.version,
      sha256: digest,
      size: manifest.size,
      manifest,
      state: "validated",
      createdAt: now,
      pushedBy: opts.pushedBy ?? null,
    });
  }
  if (opts.serve) {
    await orm
      .update(versions)
      .set({ state: "serving" })
      .where(and(eq(versions.model, manifest.name), eq(versions.version, manifest.version)));
    const pointer: Pointer = { version: manifest.version, seq: Date.now() };
    await stores.POINTERS.put(pointerKey(manifest.name), JSON.stringify(pointer));
  }
  return manifest;
}
