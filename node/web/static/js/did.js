// did:key for Ed25519 (specs/01-records.md §1.2): "did:key:z" + base58btc(0xed 0x01 ‖ key).

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function base58btc(bytes) {
  let number = 0n;
  for (const byte of bytes) number = (number << 8n) | BigInt(byte);
  let digits = "";
  while (number > 0n) {
    digits = ALPHABET[Number(number % 58n)] + digits;
    number /= 58n;
  }
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  return "1".repeat(zeros) + digits;
}

export function didFromPublicKey(publicKey) {
  if (publicKey.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
  const prefixed = new Uint8Array(34);
  prefixed.set([0xed, 0x01]);
  prefixed.set(publicKey, 2);
  return "did:key:z" + base58btc(prefixed);
}

/** A shortened did for tight spaces; the full did is always in its title. */
export function shortDid(did) {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did;
}
