// Checking, in the browser, what the node serves about its log: an entry's
// RFC 9162 inclusion proof against a checkpoint, and the checkpoint's
// signature by the log's key (C2SP signed note, Ed25519). Nothing is trusted
// because the node said so.

import { concat, fromBase64, sha256, utf8 } from "./bytes.js";
import { canonicalBytes } from "./jcs.js";

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The 32-byte Ed25519 key inside a did:key. */
export function publicKeyFromDid(did) {
  if (!did.startsWith("did:key:z")) throw new Error("not a did:key");
  let number = 0n;
  for (const ch of did.slice(9)) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) throw new Error("not base58btc");
    number = number * 58n + BigInt(digit);
  }
  const out = new Uint8Array(34);
  for (let i = 33; i >= 0; i--) {
    out[i] = Number(number & 0xffn);
    number >>= 8n;
  }
  if (out[0] !== 0xed || out[1] !== 0x01) throw new Error("not an Ed25519 did:key");
  return out.slice(2);
}

/** RFC 9162 §2.1.1: the leaf hash of an envelope, SHA-256(0x00 ‖ JCS(envelope)). */
export async function leafHash(envelope) {
  return sha256(concat(Uint8Array.of(0), canonicalBytes(envelope)));
}

/** RFC 9162 §2.1.3.2. Returns true when the proof leads from leaf to root. */
export async function verifyInclusion(leaf, index, size, proof, root) {
  if (index >= size) return false;
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if (fn & 1n || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      if (!(fn & 1n)) {
        while (!(fn & 1n) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equal(r, root);
}

/**
 * Open a checkpoint note signed by the log's did (specs/02-log.md §5):
 * returns {origin, size, root} if the log key's signature verifies, else throws.
 */
export async function openCheckpoint(note, did) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new Error("not a signed note");
  const text = note.slice(0, split + 1);
  const [origin, sizeText, rootText] = text.split("\n");
  const publicKey = publicKeyFromDid(did);
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  const lines = note.slice(split + 2).split("\n").filter((l) => l.startsWith(`— ${origin} `));
  for (const line of lines) {
    const blob = fromBase64(line.slice(line.lastIndexOf(" ") + 1));
    if (blob.length !== 68) continue;
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, blob.slice(4), utf8(text))) {
      return { origin, size: Number(sizeText), root: fromBase64(rootText) };
    }
  }
  throw new Error("no signature by the log's key verifies");
}
