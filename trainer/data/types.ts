// What every data source produces: a featurized, split dataset ready for the MLP.
import type { Featurizer } from "../../shared/featurize";
import type { FeatureBinding } from "../../shared/features";
import type { InputPart } from "../../shared/onnx/split-input";
import type { FeatureJoin } from "./feature-join";
import type { Standardization } from "./standardize";

/** Inputs the loader standardised: what a caller must do to raw rows before the model sees them. */
export type InputStandardization = Standardization & { features: string[] };

export type Split = {
  /** Row-major [rows × features] float32. */
  x: Float32Array;
  /** Class index per row. */
  y: Int32Array;
  rows: number;
};

export type Dataset = {
  /** Default model name (matches shared/manifest MODEL_NAME). */
  name: string;
  /** Where the rows came from, for logs and the training report. */
  source: string;
  /** How train/test were separated. */
  splitNote: string;
  features: number;
  /** Class names, by class index. */
  labels: string[];
  /** Index of the positive class for precision/recall (binary tasks), if any. */
  positive?: number;
  /** Image datasets: [height, width, channels] of a row (NHWC order), what a CNN needs. */
  shape?: readonly [number, number, number];
  /** Text datasets: the featurizer that turns raw text into the features (its id/params go in the manifest). */
  featurizer?: Featurizer;
  /** Tabular data standardised by the loader (statistics of the training split). */
  standardization?: InputStandardization;
  /** Rows joined to feature views: the views (for the manifest) and the model's inputs, in row order. */
  views?: DatasetViews;
  train: Split;
  test: Split;
};

export type DatasetViews = { bindings: FeatureBinding[]; inputs: InputPart[] };

export class DatasetError extends Error {
  override name = "DatasetError";
}

export type LoadOptions = {
  /** Seed of the train/test shuffle (independent of the training seed). */
  splitSeed: number;
  /** Fraction of rows held out for evaluation. */
  testFraction: number;
  /** Keep only this many rows (a seeded random subset), for quick runs and tests. */
  limit?: number;
  /** Featurizer parameters for text data (hashed-bow-v1). */
  featurizerParams?: Record<string, unknown>;
  /** Join each row to its entity's feature values (JSONL with entity_id). */
  join?: FeatureJoin;
};
