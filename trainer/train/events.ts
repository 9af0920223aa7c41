// What a training run reports as it goes (the loop emits, progress.ts renders): one interface, so
// the loop and its renderers depend on it rather than on each other.
import type { Evaluation } from "./metrics";

export type EpochStats = {
  epoch: number;
  steps: number;
  trainLoss: number;
  trainAccuracy: number;
  seconds: number;
  stepsPerSec: number;
  test?: Evaluation;
};

export type RunStartEvent = {
  runId: string;
  mode: string;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  startStep: number;
  resumedFrom: number | null;
  shards: number;
  /** How shard gradients travel: fp32 (exact) or bf16. */
  gradients: "fp32" | "bf16";
  checkpoints: string | null;
};
export type EpochStartEvent = { epoch: number; epochs: number; steps: number; startAt: number };
export type StepEvent = {
  step: number;
  epoch: number;
  index: number;
  loss: number;
  accuracy: number;
  /** Rows in the step's batch (an epoch's last batch may be short). */
  rows: number;
  ms: number;
  computeMs: number | null;
  /** Averaging + optimizer update on the coordinator. */
  applyMs: number;
  stepsPerSec: number;
};

export interface TrainEvents {
  runStart(e: RunStartEvent): void;
  epochStart(e: EpochStartEvent): void;
  step(e: StepEvent): void;
  epochEnd(e: EpochStats): void;
  checkpoint(e: { step: number; where: string }): void;
  evaluation(e: Evaluation): void;
  /** A line for people (stdout) or a {"event":"info"} record. */
  info(message: string, data?: Record<string, unknown>): void;
}

export const silentEvents: TrainEvents = {
  runStart() {},
  epochStart() {},
  step() {},
  epochEnd() {},
  checkpoint() {},
  evaluation() {},
  info() {},
};
