// The node's public API, and nothing else: GETs of /api/v1, /fed/v1 and
// /blobs, and POSTs signed by the member's key (RFC 9421). Errors are the
// node's RFC 9457 problem details, kept whole for forms to show.

import { currentKey } from "./keys.js";
import { signatureHeaders } from "./httpsig.js";
import { canonicalBytes } from "./jcs.js";
import { makeRecord, signRecord } from "./records.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      /* fall through */
    }
  }
  return { title: response.statusText || "Error", status: response.status, detail: `the node answered ${response.status}` };
}

async function check(response) {
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

export async function getJSON(path) {
  const response = await check(await fetch(path, { headers: { Accept: "application/json" } }));
  return response.json();
}

export async function getText(path) {
  return (await check(await fetch(path))).text();
}

export class NotSignedIn extends Error {
  constructor() {
    super("sign in with your key first");
  }
}

export async function requireKey() {
  const key = await currentKey();
  if (!key) throw new NotSignedIn();
  return key;
}

/** POST body (Uint8Array) to path, signed by the member's key. Returns the JSON answer. */
export async function signedPost(path, body, contentType = "application/json") {
  const key = await requireKey();
  const headers = await signatureHeaders(key, "POST", path, body);
  headers["Content-Type"] = contentType;
  const response = await check(await fetch(path, { method: "POST", body, headers }));
  return response.json();
}

export async function signedPostJSON(path, value) {
  return signedPost(path, canonicalBytes(value));
}

/** Sign a record of type with body in the browser and append it: {id, index}. */
export async function publishRecord(type, body) {
  const key = await requireKey();
  const { leaf } = await signRecord(key, makeRecord(type, key.did, body));
  return signedPost("/api/v1/records", leaf);
}

/** Upload a file (ArrayBuffer or Uint8Array) as a blob: {sha256, size, url}. */
export async function uploadBlob(data, mediaType = "application/octet-stream") {
  return signedPost("/api/v1/blobs", new Uint8Array(data), mediaType);
}
