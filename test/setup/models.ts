// Builds the fixture models once per test run (in Node) and hands them to the workerd tests,
// which cannot read the file system, through vitest's provide/inject.
import type { TestProject } from "vitest/node";
import { buildMlpFp32 } from "../../shared/onnx/mlp";
import { irisSpec, irisWeights } from "../../dev/samples/iris";
import { wrongIris } from "../../dev/samples/candidates";
import { buildFixtureModels } from "../../dev/samples/index";
import { featurizerFor } from "../../shared/featurize";
import { TRICKY_TEXTS, heldOutEmails } from "./texts";
import { cnnFixture } from "./cnn";

export default async function setup(project: TestProject): Promise<void> {
  const models = await buildFixtureModels();
  project.provide("models", models);
  // The trainer's features for a set of texts, computed here in Node, for workerd to compare with.
  const preprocessing = models.find((m) => m.manifest.name === "spam")!.manifest.preprocessing!;
  const featurize = featurizerFor(preprocessing);
  const texts = [...TRICKY_TEXTS, ...heldOutEmails(12).map((e) => e.text)];
  project.provide("textFeatures", {
    preprocessing,
    cases: texts.map((text) => ({ text, features: Buffer.from(featurize(text).buffer).toString("base64") })),
  });
  // A second iris, trained from another seed: the "new version" the versions tests push.
  project.provide("irisV2", Buffer.from(buildMlpFp32(irisSpec(irisWeights({ seed: 7 }).layers))).toString("base64"));
  // A rollout candidate that goes wrong: another class for every row.
  project.provide("irisWrong", Buffer.from(wrongIris()).toString("base64"));
  // An int8 CNN on MNIST digits and what onnxruntime-node answers for them (edge/runtime/cnn.test.ts).
  project.provide("cnn", await cnnFixture());
}
