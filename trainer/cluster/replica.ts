// A replica of the model under `--reduce replicated`: parameters and optimizer state that a worker
// (and the coordinator) keep and advance with the same reduced gradients, so they are never sent
// again. A replica starts from its session's snapshot and replays the reduced gradients of the
// steps since; its checksum, sent every few steps, proves it still equals the coordinator's.
import { createHash } from "node:crypto";
import { decodeCheckpoint } from "../train/checkpoint";
import { applyGradients, type OptimizerConfig, type OptimizerState } from "../train/optimizer";

export class Replica {
  private constructor(
    /** The coordinator session (its run key) this replica belongs to. */
    readonly base: string,
    /** Steps applied: the replica holds the parameters step `step` computes its gradient with. */
    public step: number,
    readonly params: Float32Array,
    readonly opt: OptimizerState,
    private readonly optimizer: OptimizerConfig,
  ) {}

  /** From an encoded checkpoint (the session's snapshot). */
  static fromSnapshot(base: string, snapshot: Buffer, optimizer: OptimizerConfig): Replica {
    const c = decodeCheckpoint(snapshot);
    return new Replica(base, c.step, c.params, c.opt, optimizer);
  }

  /** Applies the step's averaged gradient (the same code the coordinator's loop runs). */
  apply(grads: Float32Array): void {
    applyGradients(this.optimizer, this.params, grads, this.opt);
    this.step++;
  }

  checksum(): string {
    return replicaChecksum(this.params, this.opt);
  }
}

/** sha256 of parameters and optimizer moments (the bits: equal replicas, equal sums), 16 hex digits. */
export function replicaChecksum(params: Float32Array, opt: OptimizerState): string {
  const h = createHash("sha256");
  for (const a of [params, opt.m, opt.v]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  h.update(String(opt.t));
  return h.digest("hex").slice(0, 16);
}
