// Read side of the model registry (D1). A version's manifest and signature never change once
// written, so the isolate keeps the ones it has read.
import { and, asc, eq, ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { servingOf, type Manifest } from "../../shared/manifest";
import { ModelNotFound } from "../errors";
import { versions } from "./schema";

export interface SignedManifest {
  manifest: Manifest;
  signature: string;
}

const cache = new Map<string, SignedManifest>();
const MAX_CACHED = 1024;
/** Artifacts some version opted in to download for: rows never change, so a yes stays a yes. */
const downloadable = new Set<string>();

export function registry(db: D1Database) {
  const orm = drizzle(db);
  return {
    /** Versions that can still be asked for by number (not retired), oldest first. */
    async versions(name: string): Promise<number[]> {
      const rows = await orm
        .select({ version: versions.version })
        .from(versions)
        .where(and(eq(versions.model, name), ne(versions.state, "retired")))
        .orderBy(asc(versions.version));
      return rows.map((r) => r.version);
    },

    async version(name: string, version: number): Promise<SignedManifest> {
      const key = `${name}@${version}`;
      const cached = cache.get(key);
      if (cached) return cached;
      const row = await orm
        .select({ manifest: versions.manifest, signature: versions.signature })
        .from(versions)
        .where(and(eq(versions.model, name), eq(versions.version, version)))
        .get();
      if (!row) throw new ModelNotFound(`model "${name}" has no version ${version}`);
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, row);
      return row;
    },

    /**
     * Whether these bytes may leave the edge: some version stored with them (any model, any state)
     * has a signed manifest with serving.download. The same bytes under another model name are the
     * same model, so they are public once any publisher opted them in.
     */
    async downloadable(sha256: string): Promise<boolean> {
      if (downloadable.has(sha256)) return true;
      const rows = await orm.select({ manifest: versions.manifest }).from(versions).where(eq(versions.sha256, sha256)).all();
      if (!rows.some((r) => servingOf(r.manifest).download)) return false;
      if (downloadable.size >= MAX_CACHED) downloadable.clear();
      downloadable.add(sha256);
      return true;
    },
  };
}
export type Registry = ReturnType<typeof registry>;
