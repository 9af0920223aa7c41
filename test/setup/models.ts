// Builds the fixture models once per test run (in Node) and hands them to the workerd tests,
// which cannot read the file system, through vitest's provide/inject.
import type { TestProject } from "vitest/node";
import { buildFixtureModels, type FixtureModel } from "../../scripts/models";

declare module "vitest" {
  export interface ProvidedContext {
    models: FixtureModel[];
  }
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide("models", await buildFixtureModels());
}
