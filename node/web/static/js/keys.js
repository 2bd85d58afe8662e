// The member's Ed25519 key, kept by this browser (issue 9: "Sign in with your key").
//
// The private key lives in IndexedDB as a non-extractable WebCrypto CryptoKey:
// scripts can ask the browser to sign with it but can never read it, so it
// never reaches the node or any other page. The public key and did are stored
// beside it.
//
// Backup decision: a key that is generated here is generated extractable,
// exported once as a PKCS#8 PEM (the format `fabcommons key new` writes) and
// then re-imported non-extractable; only the non-extractable copy is stored.
// The PEM is offered for download on the page that created the key, while it
// is still in memory, and never again: a stored key cannot be exported later
// (that is the point of non-extractable). Whoever loses the backup and the
// browser's storage loses the key; a new key can be admitted instead.

import { base64, fromBase64, fromBase64url } from "./bytes.js";
import { didFromPublicKey } from "./did.js";

const DB_NAME = "fabcommons";
const STORE = "keys";
const SLOT = "member";
const ED25519 = { name: "Ed25519" };
// RFC 8410 §7 PKCS#8 of an Ed25519 seed: always these 16 bytes and the 32-byte seed
// (specs/01-records.md §1.4).
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const MAX_KEY_FILE = 4096;

export class KeyError extends Error {}

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

class MemberKey {
  constructor(entry) {
    this.did = entry.did;
    this.publicKey = entry.publicKey;
    this.created = entry.created;
    this.source = entry.source;
    this.privateKey = entry.privateKey;
  }

  /** The 64-byte Ed25519 signature of data, made by the browser. */
  async sign(data) {
    return new Uint8Array(await crypto.subtle.sign(ED25519, this.privateKey, data));
  }
}

/** The key this browser holds, or null. */
export async function currentKey() {
  const entry = await withStore("readonly", (store) => store.get(SLOT));
  return entry ? new MemberKey(entry) : null;
}

export async function forgetKey() {
  await withStore("readwrite", (store) => store.delete(SLOT));
}

/** Import PKCS#8 DER non-extractable; the public key comes from a transient JWK export. */
async function storePkcs8(der, source) {
  const transient = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", transient);
  const publicKey = fromBase64url(jwk.x);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  const entry = {
    did: didFromPublicKey(publicKey),
    publicKey,
    privateKey,
    created: new Date().toISOString(),
    source,
  };
  await withStore("readwrite", (store) => store.put(entry, SLOT));
  return new MemberKey(entry);
}

function toPem(der) {
  const lines = base64(der).match(/.{1,64}/g);
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

/** Parse a PKCS#8 PEM key file of an unencrypted Ed25519 seed. Throws KeyError. */
export function parsePem(text) {
  if (text.length > MAX_KEY_FILE) throw new KeyError("a key file is at most 4096 bytes");
  const match = /^-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END PRIVATE KEY-----\s*$/.exec(
    text.trim() + "\n",
  );
  if (!match) {
    if (text.includes("ENCRYPTED")) throw new KeyError("encrypted key files are not supported");
    throw new KeyError("not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)");
  }
  let der;
  try {
    der = fromBase64(match[1].replace(/\s+/g, ""));
  } catch {
    throw new KeyError("the key file's base64 is damaged");
  }
  const prefixOk = der.length === 48 && PKCS8_PREFIX.every((b, i) => der[i] === b);
  if (!prefixOk) throw new KeyError("not an Ed25519 private key in the form `fabcommons key new` writes");
  return der;
}

/** Import a key file's text; the stored copy is non-extractable. Throws KeyError. */
export async function importPem(text) {
  const der = parsePem(text);
  try {
    return await storePkcs8(der, "imported");
  } finally {
    der.fill(0);
  }
}

/**
 * Generate a new key. Returns {key, backupPem}: backupPem is the only copy of
 * the private key that can ever leave the browser's key store, for the user to
 * save now.
 */
export async function generateKey() {
  const pair = await crypto.subtle.generateKey(ED25519, true, ["sign", "verify"]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  try {
    const key = await storePkcs8(der, "generated");
    return { key, backupPem: toPem(der) };
  } finally {
    der.fill(0);
  }
}

