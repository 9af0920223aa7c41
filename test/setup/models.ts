// Builds the fixture models once per test run (in Node) and hands them to the workerd tests,
// which cannot read the file system, through vitest's provide/inject.
import type { TestProject } from "vitest/node";
import { buildMlpFp32 } from "../../shared/onnx/mlp";
import { irisSpec, irisWeights } from "../../shared/onnx/models";
import { buildFixtureModels } from "../../scripts/models";

export default async function setup(project: TestProject): Promise<void> {
  project.provide("models", await buildFixtureModels());
  // A second iris, trained from another seed: the "new version" the versions tests push.
  project.provide("irisV2", Buffer.from(buildMlpFp32(irisSpec(irisWeights({ seed: 7 }).layers))).toString("base64"));
}
