// Character predicates shared by the hand-written scanners (char codes, no regex: each test is O(1)).

/** A regex \w character: [A-Za-z0-9_]. */
export function isWordCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

export function isAlnumCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export function isUpperAlnumCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
}

/** [A-Za-z0-9_-]: base64url and most token bodies. */
export function isTokenCode(c: number): boolean {
  return isWordCode(c) || c === 45;
}

/** [A-Za-z0-9+/=]: standard base64 with padding. */
export function isBase64Code(c: number): boolean {
  return isAlnumCode(c) || c === 43 || c === 47 || c === 61;
}

/** A regex \s character (ECMAScript WhiteSpace + LineTerminator). */
export function isSpaceCode(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  if (c < 160) return false;
  return c === 160 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Whether a regex \b holds between text[i-1] and text[i]. */
export function isWordBoundary(text: string, i: number): boolean {
  const before = i > 0 && isWordCode(text.charCodeAt(i - 1));
  const after = i < text.length && isWordCode(text.charCodeAt(i));
  return before !== after;
}

/**
 * Lower-cased copy with the same length, so offsets found in it are offsets in the original. toLowerCase
 * keeps the length except for a few characters (U+0130 becomes two code units); then only ASCII is folded.
 */
export function lowerSameLength(text: string): string {
  const lower = text.toLowerCase();
  if (lower.length === text.length) return lower;
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out.push(c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : text[i]!);
  }
  return out.join('');
}
