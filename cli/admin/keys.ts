// Signing key files for `meridian keygen` / `meridian push`. The private key is base64 PKCS#8 on
// one line (the same text MERIDIAN_SIGNING_KEY holds), so a file and the variable are interchangeable.
import { createPrivateKey } from "node:crypto";
import { constants } from "node:fs";
import { chmod, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fromBase64, generateKeyPair, type KeyPair } from "../../shared/signing";

export const PRIVATE_KEY_FILE = "meridian-signing.key";
export const PUBLIC_KEY_FILE = "meridian-signing.pub";

export class KeyError extends Error {
  override name = "KeyError";
}

export interface WrittenKeys extends KeyPair {
  privateKeyFile: string;
  publicKeyFile: string;
}

/** Makes a key pair and writes it to `dir`; the private file is created 0600 and never clobbered unless `force`. */
export async function writeKeyPair(dir: string, opts: { force?: boolean; pair?: KeyPair } = {}): Promise<WrittenKeys> {
  const pair = opts.pair ?? (await generateKeyPair());
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  const privateKeyFile = join(abs, PRIVATE_KEY_FILE);
  const publicKeyFile = join(abs, PUBLIC_KEY_FILE);
  // O_EXCL makes "refuse to overwrite" atomic: no window between a check and the write.
  const flags = constants.O_WRONLY | constants.O_CREAT | (opts.force ? constants.O_TRUNC : constants.O_EXCL);
  let handle;
  try {
    handle = await open(privateKeyFile, flags, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new KeyError(`${privateKeyFile} already exists (pass --force to replace it)`);
    }
    throw err;
  }
  try {
    await handle.writeFile(`${pair.privateKey}\n`);
  } finally {
    await handle.close();
  }
  // The mode given to open() is masked by umask and ignored for an existing file: set it explicitly.
  await chmod(privateKeyFile, 0o600);
  await writeFile(publicKeyFile, `${pair.publicKey}\n`);
  return { ...pair, privateKeyFile, publicKeyFile };
}

/** Accepts the one-line base64 form and also PEM ("-----BEGIN PRIVATE KEY-----"), e.g. from openssl. */
export function parsePrivateKey(text: string, source: string): string {
  const body = text
    .split(/\r?\n/)
    .filter((line) => !line.startsWith("-----"))
    .join("")
    .replace(/\s+/g, "");
  if (!body) throw new KeyError(`${source} is empty`);
  let der: Uint8Array;
  try {
    der = fromBase64(body);
  } catch {
    throw new KeyError(`${source} is not base64`);
  }
  // Checked here so a wrong file (e.g. the .pub) fails before anything is uploaded.
  let type: string | undefined;
  try {
    type = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }).asymmetricKeyType;
  } catch {
    type = undefined;
  }
  if (type !== "ed25519") throw new KeyError(`${source} is not an Ed25519 PKCS#8 private key`);
  return body;
}

export interface KeySources {
  /** --key <file> */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** Resolves the signing key: --key file, then MERIDIAN_SIGNING_KEY, then MERIDIAN_SIGNING_KEY_FILE. */
export async function loadPrivateKey(sources: KeySources): Promise<string> {
  const env = sources.env ?? process.env;
  if (sources.file) return parsePrivateKey(await readKeyFile(sources.file), sources.file);
  if (env.MERIDIAN_SIGNING_KEY) return parsePrivateKey(env.MERIDIAN_SIGNING_KEY, "MERIDIAN_SIGNING_KEY");
  if (env.MERIDIAN_SIGNING_KEY_FILE) {
    const file = env.MERIDIAN_SIGNING_KEY_FILE;
    return parsePrivateKey(await readKeyFile(file), file);
  }
  throw new KeyError("no signing key: pass --key <file> or set MERIDIAN_SIGNING_KEY or MERIDIAN_SIGNING_KEY_FILE (make one with `meridian keygen`)");
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyError(code === "ENOENT" ? `key file ${file} does not exist` : `cannot read key file ${file}: ${code ?? String(err)}`);
  }
}
