import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./edge/versions/schema.ts",
  out: "./migrations",
});
