// `npm run bench:quality`: the models worth serving, trained and exported the way `meridian train`
// does (in-process), scored by onnxruntime on real held-out data: held-out accuracy of the fp32
// and int8 graphs with 95% Wilson intervals, the int8 drop in points, file sizes, and wall time.
//   spam     SpamAssassin (6,046 emails; 20% held out by a seeded shuffle), MLP 4096-64-2
//   weather  NOAA daily weather, Seattle and New York (2,922 days; 20% held out), MLP 8-128-5
//   mnist    the full MNIST (60,000 train, the official 10,000 test digits held out), the CNN
// Targets (issue 13): MNIST ≥ 98% with the CNN, spam ≥ 98%, int8 within 0.5 points of fp32 on each.
// Writes bench/results/quality.json. Options: QUALITY_SETS=spam,weather,mnist (a subset),
// QUALITY_MNIST_EPOCHS=3.
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { TRAIN_DEFAULTS, runTrainCommand, type TrainCommandOptions } from "../trainer/commands/train";
import { silentEvents } from "../trainer/train/events";
import type { Evaluation } from "../trainer/train/metrics";
import { envNumber, resultsDir } from "./host";
import { rounded, table } from "./lib";

const ROOT = join(import.meta.dirname, "..");
const SETS = (process.env.QUALITY_SETS ?? "spam,weather,mnist").split(",").map((s) => s.trim()).filter(Boolean);
const MNIST_EPOCHS = Math.round(envNumber("QUALITY_MNIST_EPOCHS", 3));
/** Held-out accuracy targets per set, and the int8 drop allowed everywhere. */
const ACCURACY_TARGETS: Record<string, number> = { mnist: 0.98, spam: 0.98 };
const INT8_DROP_POINTS = 0.5;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const RUNS: Record<string, Partial<TrainCommandOptions>> = {
  spam: { dataset: "spam" },
  weather: { dataset: "weather", epochs: 50 },
  mnist: { dataset: "mnist", arch: "cnn", epochs: MNIST_EPOCHS },
};

const side = (e: Evaluation) => ({ rows: e.rows, correct: e.correct, accuracy: e.accuracy, ci95: [e.accuracyInterval.low, e.accuracyInterval.high] });

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "meridian-quality-"));
  const rows = [];
  try {
    for (const name of SETS) {
      const over = RUNS[name];
      if (!over) throw new Error(`unknown set ${name} (expected ${Object.keys(RUNS).join(", ")})`);
      const t0 = performance.now();
      const r = await runTrainCommand(
        { ...TRAIN_DEFAULTS, out: join(dir, name), backend: process.env.BENCH_BACKEND ?? "auto", json: true, cluster: false, fresh: true, push: false, promote: false, checkpointEvery: 0, ...over } as TrainCommandOptions,
        silentEvents,
      );
      const seconds = (performance.now() - t0) / 1000;
      const { fp32, int8 } = r.exported;
      const row = {
        set: name,
        arch: r.config.arch,
        epochs: r.config.epochs,
        split: r.data.splitNote,
        trainRows: r.data.trainRows,
        fp32: { ...side(fp32.evaluation), bytes: fp32.bytes.length },
        int8: { ...side(int8.evaluation), bytes: int8.bytes.length, format: int8.format },
        int8DropPoints: (fp32.evaluation.accuracy - int8.evaluation.accuracy) * 100,
        runtime: r.exported.runtime,
        seconds,
      };
      rows.push(row);
      log(`${name}: fp32 ${(row.fp32.accuracy * 100).toFixed(2)}%, int8 ${(row.int8.accuracy * 100).toFixed(2)}% (${seconds.toFixed(0)} s)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const ci = (c: number[]) => `${pct(c[0]!)}–${pct(c[1]!)}`;
  console.log(`\nHeld-out accuracy (95% Wilson intervals), onnxruntime on the exported graphs`);
  console.log(
    table(
      ["set", "model", "held-out rows", "fp32", "fp32 95% CI", "int8", "int8 95% CI", "int8 drop (points)", "fp32 B", "int8 B", "train+export s"],
      rows.map((r) => [r.set, r.arch.kind === "mlp" ? `mlp ${r.arch.sizes.join("-")}` : "cnn", r.fp32.rows, pct(r.fp32.accuracy), ci(r.fp32.ci95), pct(r.int8.accuracy), ci(r.int8.ci95), r.int8DropPoints, r.fp32.bytes, r.int8.bytes, r.seconds]),
    ),
  );
  const targets = rows.flatMap((r) => [
    ...(ACCURACY_TARGETS[r.set] !== undefined ? [{ target: `${r.set} fp32 held-out accuracy >= ${pct(ACCURACY_TARGETS[r.set]!)}`, value: r.fp32.accuracy, met: r.fp32.accuracy >= ACCURACY_TARGETS[r.set]! }] : []),
    { target: `${r.set} int8 within ${INT8_DROP_POINTS} points of fp32`, value: r.int8DropPoints, met: r.int8DropPoints <= INT8_DROP_POINTS },
  ]);
  console.log(table(["target", "value", "result"], targets.map((t) => [t.target, t.value, t.met ? "met" : "missed"])));
  const load1 = loadavg();
  console.log(`\nload average ${load0.map((l) => l.toFixed(2)).join(" ")} at start, ${load1.map((l) => l.toFixed(2)).join(" ")} at end (${cpus().length} cores)`);
  await mkdir(resultsDir(ROOT), { recursive: true });
  const out = join(resultsDir(ROOT), "quality.json");
  await writeFile(out, JSON.stringify(rounded({ started, machine: { cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAverageStart: load0, loadAverageEnd: load1 }, rows, targets }, 6), null, 2) + "\n");
  log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:quality failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
