// Training progress: a bar per epoch (loss, accuracy, steps/s) for people, JSON lines for tools.
import cliProgress from "cli-progress";
import type { EpochStartEvent, EpochStats, RunStartEvent, StepEvent, TrainEvents } from "./events";
import { formatEvaluation, type Evaluation } from "./metrics";

/** One JSON object per line on `out` (stdout by default), every object with an "event" field. */
export class JsonEvents implements TrainEvents {
  constructor(private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {}
  private emit(event: string, data: object): void {
    this.out(JSON.stringify({ event, time: new Date().toISOString(), ...data }));
  }
  runStart(e: RunStartEvent): void {
    this.emit("run_start", e);
  }
  epochStart(e: EpochStartEvent): void {
    this.emit("epoch_start", e);
  }
  step(e: StepEvent): void {
    this.emit("step", e);
  }
  epochEnd(e: EpochStats): void {
    this.emit("epoch_end", e);
  }
  checkpoint(e: { step: number; where: string }): void {
    this.emit("checkpoint", e);
  }
  evaluation(e: Evaluation): void {
    this.emit("evaluation", e);
  }
  info(message: string, data: Record<string, unknown> = {}): void {
    this.emit("info", { message, ...data });
  }
}

/**
 * Human output: info lines on stdout; on a terminal a progress bar per epoch on stderr,
 * otherwise (CI, pipes) one summary line per epoch.
 */
export class HumanEvents implements TrainEvents {
  private bar: cliProgress.SingleBar | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
    tty = Boolean(process.stderr.isTTY),
  ) {
    this.tty = tty;
  }

  runStart(e: RunStartEvent): void {
    const resumed = e.resumedFrom !== null ? `, resumed from the checkpoint at step ${e.resumedFrom}` : "";
    this.out(
      `run ${e.runId} (${e.mode}): ${e.totalSteps} steps, ${e.stepsPerEpoch} per epoch, ${e.shards} shard${e.shards === 1 ? "" : "s"} per step${e.gradients !== "fp32" ? `, ${e.gradients} gradients` : ""}${resumed}`,
    );
    if (e.checkpoints) this.out(`checkpoints: ${e.checkpoints}`);
  }

  epochStart(e: EpochStartEvent): void {
    if (!this.tty) return;
    this.bar = new cliProgress.SingleBar(
      {
        format: `epoch ${e.epoch + 1}/${e.epochs} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {sps} steps/s | eta {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(e.steps, e.startAt, { loss: "-", acc: "-", sps: "-" });
  }

  step(e: StepEvent): void {
    this.bar?.update(e.index, { loss: e.loss.toFixed(4), acc: (e.accuracy * 100).toFixed(1) + "%", sps: e.stepsPerSec.toFixed(1) });
  }

  epochEnd(e: EpochStats): void {
    this.bar?.stop();
    this.bar = undefined;
    const test = e.test ? ` | held-out ${formatEvaluation(e.test)}` : "";
    this.out(
      `epoch ${e.epoch + 1}: ${e.steps} steps in ${e.seconds.toFixed(1)} s (${e.stepsPerSec.toFixed(1)} steps/s), train loss ${e.trainLoss.toFixed(4)}, train acc ${(e.trainAccuracy * 100).toFixed(2)}%${test}`,
    );
  }

  checkpoint(): void {}

  evaluation(e: Evaluation): void {
    this.out(`held-out (TF.js fp32): ${formatEvaluation(e)}`);
  }

  info(message: string): void {
    this.bar?.stop();
    this.bar = undefined;
    this.out(message);
  }
}
