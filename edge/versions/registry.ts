// Read side of the model registry (D1). Manifests are immutable once written, so the isolate
// keeps the ones it has read.
import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Manifest } from "../../shared/manifest";
import { notFound } from "../http/errors";
import { models, versions } from "./schema";

const manifests = new Map<string, Manifest>();
const MAX_CACHED = 1024;

export function registry(db: D1Database) {
  const orm = drizzle(db);
  return {
    async listModels(): Promise<string[]> {
      const rows = await orm.select({ name: models.name }).from(models).orderBy(asc(models.name));
      return rows.map((r) => r.name);
    },

    /** Versions that can be served (not retired), oldest first. */
    async versions(name: string): Promise<number[]> {
      const rows = await orm
        .select({ version: versions.version, state: versions.state })
        .from(versions)
        .where(eq(versions.model, name))
        .orderBy(asc(versions.version));
      return rows.filter((r) => r.state !== "retired" && r.state !== "uploaded").map((r) => r.version);
    },

    async manifest(name: string, version: number): Promise<Manifest> {
      const key = `${name}@${version}`;
      const cached = manifests.get(key);
      if (cached) return cached;
      const row = await orm
        .select({ manifest: versions.manifest, state: versions.state })
        .from(versions)
        .where(and(eq(versions.model, name), eq(versions.version, version)))
        .get();
      if (!row || row.state === "uploaded") {
        throw notFound(`model "${name}" has no version ${version}`);
      }
      if (manifests.size >= MAX_CACHED) manifests.clear();
      manifests.set(key, row.manifest);
      return row.manifest;
    },
  };
}
export type Registry = ReturnType<typeof registry>;
