// Records and envelopes (DESIGN.md §3, specs/01-records.md §4–§5), signed in the browser.

import { base64url, concat, hex, sha256, utf8 } from "./bytes.js";
import { canonicalBytes } from "./jcs.js";

const SIGNING_PREFIX = utf8("fabcommons-record-v1\n");

/** RFC 3339 UTC without a fraction, as producers should write it (01-records §3). */
export function formatTime(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function makeRecord(type, author, body, created = new Date()) {
  return { v: 1, type, author, created: formatTime(created), body };
}

/** "sha256:" + hex SHA-256 of JCS(record). */
export async function recordId(record) {
  return "sha256:" + hex(await sha256(canonicalBytes(record)));
}

/** Sign record with key (the author's); returns {envelope, leaf, id}. */
export async function signRecord(key, record) {
  if (record.author !== key.did) throw new Error("the record's author is not this key's did");
  const sig = await key.sign(concat(SIGNING_PREFIX, canonicalBytes(record)));
  const envelope = { record, sig: base64url(sig) };
  return { envelope, leaf: canonicalBytes(envelope), id: await recordId(record) };
}
