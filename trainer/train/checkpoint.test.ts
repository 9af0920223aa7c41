// Checkpoints on disk under a coordinator's fence: files named by epoch, the highest epoch's is
// the one loaded, a refused check writes nothing, and clear removes every epoch's file.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileCheckpointStore, type Checkpoint, type FileFence } from "./checkpoint";

const ckpt = (step: number): Checkpoint => ({
  runId: "run1",
  step,
  params: Float32Array.of(step, 1, 2),
  opt: { t: step, m: new Float32Array(3), v: new Float32Array(3) },
  savedAt: "now",
});

/** A coordinator's fence: its epoch, and whether the run's current epoch is still it. */
function fence(epoch: number, current: { epoch: number }): FileFence {
  return {
    epoch: () => epoch,
    check: async () => {
      if (current.epoch !== epoch) throw new Error(`lost the lease: epoch moved from ${epoch} to ${current.epoch}`);
    },
  };
}

describe("FileCheckpointStore with a fence", () => {
  it("the highest epoch's checkpoint wins, whatever its step; a stale writer is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-ckpt-"));
    const run = { epoch: 1 };
    const a = new FileCheckpointStore(dir, fence(1, run));
    await a.save(ckpt(40));
    expect((await a.load("run1"))?.step).toBe(40);
    // B takes over (epoch 2), resumes from 40 and saves 45.
    run.epoch = 2;
    const b = new FileCheckpointStore(dir, fence(2, run));
    expect((await b.load("run1"))?.step).toBe(40);
    await b.save(ckpt(45));
    expect(readdirSync(dir)).toEqual(["run1.e2.ckpt"]); // epoch 1's file is superseded
    // A wakes up: refused before writing anything.
    await expect(a.save(ckpt(50))).rejects.toThrow("lost the lease: epoch moved from 1 to 2");
    expect(readdirSync(dir)).toEqual(["run1.e2.ckpt"]);
    // Even a stale file that lands (written between its check and the rename) is not the one loaded.
    const stale = new FileCheckpointStore(dir, fence(1, { epoch: 1 }));
    await stale.save(ckpt(60));
    expect(readdirSync(dir).sort()).toEqual(["run1.e1.ckpt", "run1.e2.ckpt"]);
    expect((await b.load("run1"))?.step).toBe(45);
    await expect(a.clear("run1")).rejects.toThrow("lost the lease");
    await b.clear("run1");
    expect(await b.load("run1")).toBeNull();
  });

  it("without a fence: one file per run, as in-process runs always had", async () => {
    const dir = mkdtempSync(join(tmpdir(), "meridian-ckpt-"));
    const s = new FileCheckpointStore(dir);
    await s.save(ckpt(3));
    await s.save(ckpt(4));
    expect(readdirSync(dir)).toEqual(["run1.ckpt"]);
    expect((await s.load("run1"))?.params[0]).toBe(4);
    expect(await s.load("other")).toBeNull();
  });
});
