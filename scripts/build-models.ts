// Writes the sample models and their manifests: npm run build:models [-- outDir]
// Layout: <outDir>/<name>/<version>/model.onnx + manifest.json (default outDir .tmp/models).
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { buildFixtureModels } from "../dev/samples/index";

const outDir = resolve(process.argv[2] ?? ".tmp/models");
for (const { manifest, onnx } of await buildFixtureModels()) {
  const dir = join(outDir, manifest.name, String(manifest.version));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "model.onnx"), Buffer.from(onnx, "base64"));
  await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`${manifest.name.padEnd(12)} ${String(manifest.size).padStart(7)} bytes  sha256 ${manifest.sha256.slice(0, 12)}  ${manifest.quantization}`);
}
console.log(`written to ${outDir}`);
