// The registry of feature views, in D1: a view is recorded when it is defined on its own
// (POST /admin/features) or by the first push whose manifest declares it, and every later
// declaration must agree with that one (a view's definition never
// changes under data already written for it; a changed view needs a new name). Writes are
// checked against the recorded definition.
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { sameView, viewOf, type FeatureView } from "../../shared/features";
import type { Manifest } from "../../shared/manifest";
import { FeatureViewNotFound, InvalidInput } from "../errors";
import { featureViews } from "../versions/schema";

/** Records the manifest's views that are new; refuses one declared before with another definition. */
export async function declareViews(db: D1Database, manifest: Manifest): Promise<void> {
  for (const binding of manifest.features ?? []) await declareView(db, viewOf(binding), { model: manifest.name, version: manifest.version });
}

/**
 * Records a view unless it exists (true when this call recorded it); refuses one recorded before
 * with another definition. `by`: the manifest declaring it, or null for a view defined on its own.
 */
export async function declareView(db: D1Database, view: FeatureView, by: { model: string; version: number } | null): Promise<boolean> {
  const orm = drizzle(db);
  // Insert-if-absent, then read back: of two first declarations racing, one definition wins for both.
  const inserted = await orm
    .insert(featureViews)
    .values({ name: view.name, definition: view, model: by?.model ?? null, version: by?.version ?? null, createdAt: new Date().toISOString() })
    .onConflictDoNothing()
    .returning({ name: featureViews.name });
  const [stored] = await orm.select().from(featureViews).where(eq(featureViews.name, view.name));
  if (stored && !sameView(stored.definition, view)) {
    const where = stored.model === null ? "defined on its own" : `declared by ${stored.model} version ${stored.version}`;
    throw new InvalidInput(`feature view "${view.name}" was ${where} with another definition (${difference(stored.definition, view)}); a view never changes: give the new definition a new name`);
  }
  return inserted.length > 0;
}

/** The recorded definition of a view. */
export async function viewNamed(db: D1Database, name: string): Promise<FeatureView> {
  const [stored] = await drizzle(db).select().from(featureViews).where(eq(featureViews.name, name));
  if (!stored) throw new FeatureViewNotFound(`unknown feature view "${name}": no pushed manifest declares it`);
  return stored.definition;
}

/** The first part in which two definitions of a view differ, for the refusal. */
function difference(was: FeatureView, now: FeatureView): string {
  for (const k of ["entity", "consistency", "maxStalenessMs"] as const) {
    if (was[k] !== now[k]) return `${k} was ${JSON.stringify(was[k])}, now ${JSON.stringify(now[k])}`;
  }
  const names = (v: FeatureView) => v.features.map((f) => f.name).join(", ");
  if (names(was) !== names(now)) return `features were [${names(was)}], now [${names(now)}]`;
  for (let i = 0; i < was.features.length; i++) {
    const a = was.features[i]!;
    const b = now.features[i]!;
    if (JSON.stringify(a) !== JSON.stringify(b)) return `feature "${a.name}" was ${JSON.stringify(a)}, now ${JSON.stringify(b)}`;
  }
  return "they differ";
}
