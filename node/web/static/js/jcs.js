// RFC 8785 (JCS) canonical JSON for the profile of specs/01-records.md §2:
// null, booleans, integers within ±(2^53−1), strings of Unicode scalar values
// without noncharacters, arrays and objects, nested at most 32 deep. Anything
// else is refused rather than serialised (§2.4), as protocol/canonical.py does.

import { utf8 } from "./bytes.js";

export const MAX_DEPTH = 32;

export class JcsError extends Error {}

function isNoncharacter(codePoint) {
  return (codePoint >= 0xfdd0 && codePoint <= 0xfdef) || (codePoint & 0xfffe) === 0xfffe;
}

function checkString(text) {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    let codePoint = unit;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) throw new JcsError("string contains a lone surrogate");
      codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new JcsError("string contains a lone surrogate");
    }
    if (isNoncharacter(codePoint)) throw new JcsError("string contains a Unicode noncharacter");
  }
}

// RFC 8785 §3.2.2.2 serialises strings as ECMAScript's JSON.stringify does:
// \" \\ \b \t \n \f \r, other controls as \u00xx (lower case), the rest as is.
function serialiseString(text) {
  checkString(text);
  return JSON.stringify(text);
}

function serialise(value, depth) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new JcsError(`number ${value} is not an integer within ±(2^53−1)`);
    }
    // String(-0) is "0", as RFC 8785 §3.2.2.3 wants.
    return String(value);
  }
  if (typeof value === "string") return serialiseString(value);
  if (depth >= MAX_DEPTH) throw new JcsError(`nesting deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) {
    return "[" + value.map((item) => serialise(item, depth + 1)).join(",") + "]";
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    // Array.prototype.sort without a comparator orders strings by UTF-16
    // code units, exactly the order of RFC 8785 §3.2.3.
    const names = Object.keys(value).sort();
    const members = names.map((name) => {
      if (value[name] === undefined) throw new JcsError(`member ${name} is undefined`);
      return serialiseString(name) + ":" + serialise(value[name], depth + 1);
    });
    return "{" + members.join(",") + "}";
  }
  throw new JcsError(`${typeof value} is not a JSON value of the profile`);
}

/** The canonical JSON text of value. Throws JcsError outside the profile. */
export function canonicalize(value) {
  return serialise(value, 0);
}

/** The canonical UTF-8 bytes of value. Throws JcsError outside the profile. */
export function canonicalBytes(value) {
  return utf8(canonicalize(value));
}
