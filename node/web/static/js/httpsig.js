// RFC 9421 request signatures exactly as node/httpsig.py verifies them
// (specs/08-node-api.md §2.1): covered "@method", "@target-uri" and
// "content-digest" (RFC 9530, sha-256), parameters created, keyid (the did),
// alg="ed25519" and a fresh nonce, one signature labelled "sig".

import { base64, base64url, sha256, utf8 } from "./bytes.js";

const COVERED = '("@method" "@target-uri" "content-digest")';

/** The target URI as the node rebuilds it (§2.2): scheme://host[:port]/path?query. */
export function targetUri(path, origin = window.location.origin) {
  return new URL(path, origin).href;
}

/**
 * Headers that sign a request of body (Uint8Array) to path with key. The
 * options exist for the specification's test vector: a fixed time, nonce
 * and origin; a request always uses the defaults.
 */
export async function signatureHeaders(key, method, path, body, options = {}) {
  const { now = Date.now(), nonce = base64url(crypto.getRandomValues(new Uint8Array(16))), origin } = options;
  const digest = `sha-256=:${base64(await sha256(body))}:`;
  const created = Math.floor(now / 1000);
  const params = `${COVERED};created=${created};keyid="${key.did}";alg="ed25519";nonce="${nonce}"`;
  const base = [
    `"@method": ${method.toUpperCase()}`,
    `"@target-uri": ${targetUri(path, origin)}`,
    `"content-digest": ${digest}`,
    `"@signature-params": ${params}`,
  ].join("\n");
  const signature = await key.sign(utf8(base));
  return {
    "Content-Digest": digest,
    "Signature-Input": `sig=${params}`,
    Signature: `sig=:${base64(signature)}:`,
  };
}
