// D1 registry schema (drizzle). `npm run db:generate` turns changes into SQL in migrations/.
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { FeatureView } from "../../shared/features";
import type { Manifest } from "../../shared/manifest";

/** A version is validated when pushed (hash, ONNX, graph, signature checked in the request). */
export const VERSION_STATES = ["validated", "serving", "canary", "retired"] as const;
export type VersionState = (typeof VERSION_STATES)[number];

export const EVENT_ACTIONS = ["push", "promote", "rollback", "canary", "shadow", "rollout"] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

export const models = sqliteTable("models", {
  name: text("name").primaryKey(),
  createdAt: text("created_at").notNull(),
});

export const versions = sqliteTable(
  "versions",
  {
    model: text("model")
      .notNull()
      .references(() => models.name),
    version: integer("version").notNull(),
    sha256: text("sha256").notNull(),
    size: integer("size").notNull(),
    manifest: text("manifest", { mode: "json" }).$type<Manifest>().notNull(),
    /** Ed25519 over the canonical JSON of the manifest (shared/signing.ts). */
    signature: text("signature").notNull(),
    state: text("state", { enum: VERSION_STATES }).notNull(),
    createdAt: text("created_at").notNull(),
    pushedBy: text("pushed_by"),
  },
  (t) => [primaryKey({ columns: [t.model, t.version] })],
);

/** Pushes, promotions, rollbacks and canary changes, in the order RegistryDO made them. */
export const events = sqliteTable("events", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  model: text("model")
    .notNull()
    .references(() => models.name),
  action: text("action", { enum: EVENT_ACTIONS }).notNull(),
  fromVersion: integer("from_version"),
  toVersion: integer("to_version"),
  percent: integer("percent"),
  seq: integer("seq").notNull(),
  actor: text("actor").notNull(),
  at: text("at").notNull(),
  /** Why, when the registry decided itself (a rollout's gates, with their figures). */
  note: text("note"),
});

/**
 * Feature views, as first declared by a pushed manifest: writes are checked against this, and a
 * later manifest declaring the same view must agree with it (a changed view needs a new name).
 */
export const featureViews = sqliteTable("feature_views", {
  name: text("name").primaryKey(),
  definition: text("definition", { mode: "json" }).$type<FeatureView>().notNull(),
  /** The model and version whose push declared it first; null when defined on its own (POST /admin/features). */
  model: text("model"),
  version: integer("version"),
  createdAt: text("created_at").notNull(),
});
