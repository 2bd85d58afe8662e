// Turning what people type into the exact forms records carry.

/** "a, b,c" → ["a", "b", "c"]. */
export function list(text) {
  return (text || "")
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * A decimal with exactly three fractional digits ("220" → "220.000"), as
 * lengths in records are written. Anything else is passed on as typed, so
 * that the node's refusal names the field.
 */
export function decimal3(text) {
  const value = (text || "").trim();
  const match = /^(\d+)(?:\.(\d{1,3}))?$/.exec(value);
  if (!match) return value;
  return `${BigInt(match[1])}.${(match[2] || "").padEnd(3, "0")}`;
}

/** An integer as typed, or the text itself (for the node to refuse). */
export function integer(text) {
  const value = (text || "").trim();
  return /^-?\d{1,15}$/.test(value) ? Number(value) : value;
}
