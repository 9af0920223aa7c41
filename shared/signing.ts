// Ed25519 signatures over manifests, through WebCrypto (Workers and Node 20 both have it).
// The trainer signs; the edge verifies before it serves a version.
import type { Manifest } from "./manifest";

const ED25519 = { name: "Ed25519" } as const;
const encoder = new TextEncoder();

export interface KeyPair {
  /** Raw 32-byte public key, base64: what the edge is configured with. */
  publicKey: string;
  /** PKCS#8 private key, base64: stays with whoever pushes models. */
  privateKey: string;
}

/** A signature that does not verify, or a key that cannot be read. */
export class SignatureError extends Error {
  override name = "SignatureError";
}

export async function generateKeyPair(): Promise<KeyPair> {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"])) as CryptoKeyPair;
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
  return { publicKey: toBase64(new Uint8Array(raw as ArrayBuffer)), privateKey: toBase64(new Uint8Array(pkcs8 as ArrayBuffer)) };
}

/** JSON with object keys sorted at every level: the bytes that get signed. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export async function signManifest(manifest: Manifest, privateKey: string): Promise<string> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("pkcs8", fromBase64(privateKey), ED25519, false, ["sign"]);
  } catch {
    throw new SignatureError("the private key is not a base64 PKCS#8 Ed25519 key");
  }
  const signature = await crypto.subtle.sign(ED25519, key, encoder.encode(canonicalJson(manifest)));
  return toBase64(new Uint8Array(signature));
}

/** True when any of the trusted public keys (rotation) verifies the signature. */
export async function verifyManifest(manifest: Manifest, signature: string, publicKeys: readonly string[]): Promise<boolean> {
  let sig: Uint8Array<ArrayBuffer>;
  try {
    sig = fromBase64(signature);
  } catch {
    return false;
  }
  if (sig.byteLength !== 64) return false;
  const data = encoder.encode(canonicalJson(manifest));
  for (const pk of publicKeys) {
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey("raw", fromBase64(pk), ED25519, false, ["verify"]);
    } catch {
      throw new SignatureError(`configured public key "${pk.slice(0, 12)}…" is not a base64 raw Ed25519 key`);
    }
    if (await crypto.subtle.verify(ED25519, key, sig, data)) return true;
  }
  return false;
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.trim());
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
