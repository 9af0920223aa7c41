// D1 registry schema (drizzle). `npm run db:generate` turns changes into SQL in migrations/.
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { Manifest } from "../../shared/manifest";

export const VERSION_STATES = ["uploaded", "validated", "serving", "canary", "retired"] as const;
export type VersionState = (typeof VERSION_STATES)[number];

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
    state: text("state", { enum: VERSION_STATES }).notNull(),
    createdAt: text("created_at").notNull(),
    pushedBy: text("pushed_by"),
  },
  (t) => [primaryKey({ columns: [t.model, t.version] })],
);
