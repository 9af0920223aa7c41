// Builds the fixture models once per test run (in Node) and hands them to the workerd tests,
// which cannot read the file system, through vitest's provide/inject.
import type { TestProject } from "vitest/node";
import { buildFixtureModels } from "../../scripts/models";

export default async function setup(project: TestProject): Promise<void> {
  project.provide("models", await buildFixtureModels());
}
