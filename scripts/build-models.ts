// Writes the sample models and their manifests: npx tsx scripts/build-models.ts [outDir]
// Layout: <outDir>/<name>/<version>/model.onnx + manifest.json (default outDir .tmp/models).
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Quantization } from "../shared/manifest";
import { buildMlpFp32, buildMlpInt8, type MlpSpec } from "../shared/onnx/mlp";
import {
  IRIS_LABELS,
  buildDtypeEchoModel,
  irisData,
  irisSpec,
  irisWeights,
  manifestFor,
  mlpWeights,
  normalRows,
} from "../shared/onnx/models";

type Sample = {
  name: string;
  bytes: Uint8Array;
  quantization: Quantization;
  labels?: Record<string, string[]>;
  metrics?: Record<string, number>;
};

const MLP784_SIZES = [784, 256, 128, 10] as const;
const MLP784_SEED = 784;
const MLP784_CALIBRATION_ROWS = 256;

function sampleModels(): Sample[] {
  const iris = irisWeights();
  const spec = irisSpec(iris.layers);
  const { x, rows } = irisData();
  const irisLabels = { probabilities: [...IRIS_LABELS] };

  const mlpSpec: MlpSpec = {
    layers: mlpWeights(MLP784_SIZES, MLP784_SEED),
    input: "features",
    output: "probabilities",
    label: "label",
  };
  const calib = normalRows(MLP784_CALIBRATION_ROWS, MLP784_SIZES[0], MLP784_SEED + 1);

  return [
    {
      name: "iris",
      bytes: buildMlpFp32(spec),
      quantization: "none",
      labels: irisLabels,
      metrics: { train_accuracy: iris.accuracy },
    },
    // Calibrated on the 150 iris rows (the only data there is).
    { name: "iris-int8", bytes: buildMlpInt8(spec, x, rows), quantization: "int8-qlinear", labels: irisLabels },
    { name: "mlp784", bytes: buildMlpFp32(mlpSpec), quantization: "none" },
    {
      name: "mlp784-int8",
      bytes: buildMlpInt8(mlpSpec, calib, MLP784_CALIBRATION_ROWS),
      quantization: "int8-qlinear",
    },
    { name: "dtypes", bytes: buildDtypeEchoModel(), quantization: "none" },
  ];
}

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? ".tmp/models");
  const rows: string[][] = [["name", "version", "bytes", "sha256", "quantization"]];
  for (const s of sampleModels()) {
    const manifest = await manifestFor(s.bytes, {
      name: s.name,
      version: 1,
      quantization: s.quantization,
      labels: s.labels,
      metrics: s.metrics,
    });
    const dir = join(outDir, s.name, String(manifest.version));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "model.onnx"), s.bytes);
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    rows.push([s.name, String(manifest.version), String(manifest.size), manifest.sha256.slice(0, 12), s.quantization]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((v, c) => (c === 2 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!))).join("  "));
  console.log(`written to ${outDir}`);
}

await main();
