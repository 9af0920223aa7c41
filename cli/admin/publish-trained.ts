// `meridian train --push [--promote]`: publishes what training just wrote through the same flow
// as `meridian push` (the int8 model, which is what the edge serves), then optionally promotes it.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { push } from "./push";
import { loadPrivateKey } from "./keys";
import { clientFor, type ConnectionFlags } from "./common";

export interface PublishFlags extends ConnectionFlags {
  key?: string;
  promote?: boolean;
}

/** Checked before training starts, so a missing token or key does not cost a training run. */
export async function publishSetup(flags: PublishFlags) {
  return { client: clientFor(flags), privateKey: await loadPrivateKey({ file: flags.key }) };
}

export async function publishTrained(out: string, flags: PublishFlags, setup: Awaited<ReturnType<typeof publishSetup>>) {
  // The int8 export is named "<name>-int8"; published, it is a version of the model itself.
  const { name } = JSON.parse(await readFile(join(out, "model.manifest.json"), "utf8")) as { name: string };
  const int8 = JSON.parse(await readFile(join(out, "model-int8.manifest.json"), "utf8")) as Record<string, unknown>;
  const manifestFile = join(out, "published.manifest.json");
  await writeFile(manifestFile, JSON.stringify({ ...int8, name }, null, 2) + "\n");
  const result = await push({
    file: join(out, "model-int8.onnx"),
    manifestFile,
    privateKey: setup.privateKey,
    client: setup.client,
  });
  if (!flags.promote) return { ...result, promoted: false };
  const current = await setup.client.model(result.name);
  await setup.client.promote(result.name, result.version, current?.serving ?? null);
  return { ...result, promoted: true };
}
