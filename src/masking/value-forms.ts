// The spellings a known secret value can take elsewhere in a response: as is, escaped inside a JSON or Go
// quoted string (error messages quote values with %q), base64 (std and url alphabets), whole or as a
// piece of a larger base64 string (a kubeconfig or docker config encoded around the value), and hex.

/**
 * Values shorter than this are not searched for: short values ("true", "admin") would mask ordinary text.
 * Base64 pieces of such a value are at least 7 characters (false hits in random base64 ~ 64^-7 per offset).
 */
export const MIN_KNOWN_VALUE_LENGTH = 6;

/** JSON string-literal body of s (what JSON.stringify puts between the quotes). */
export function jsonEscaped(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** Body of Go's strconv.Quote(s) (fmt %q): \a\b\f\n\r\t\v, \" and \\, other controls as \xNN. */
export function goQuoted(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 7: out += '\\a'; break;
      case 8: out += '\\b'; break;
      case 9: out += '\\t'; break;
      case 10: out += '\\n'; break;
      case 11: out += '\\v'; break;
      case 12: out += '\\f'; break;
      case 13: out += '\\r'; break;
      case 34: out += '\\"'; break;
      case 92: out += '\\\\'; break;
      default:
        out += c < 32 || c === 127 ? '\\x' + c.toString(16).padStart(2, '0') : s[i];
    }
  }
  return out;
}

function toUrlAlphabet(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The base64 characters that depend only on the value's bytes, for each of the three alignments the value
 * can have inside a larger base64 string (0, 1 or 2 bytes of its 3-byte group before it): the leading
 * characters mixed with preceding bytes (0, 2, 3 of them) and the last one mixed with following bytes are cut.
 */
export function base64Cores(bytes: Buffer): string[] {
  const cores: string[] = [];
  for (const shift of [0, 1, 2]) {
    const enc = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64').replace(/=+$/, '');
    const total = shift + bytes.length;
    const end = enc.length - (total % 3 === 0 ? 0 : 1);
    const start = [0, 2, 3][shift]!;
    if (end > start) cores.push(enc.slice(start, end));
  }
  return cores;
}

/** Every spelling to search for, the value itself first. Duplicates removed. */
export function valueForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [...new Set([value, jsonEscaped(value), jsonEscaped(jsonEscaped(value)), goQuoted(value), ...encodedForms(bytes)])];
}

/**
 * The spellings of raw bytes: as text when they are UTF-8 (valueForms), and always base64 (whole and in
 * pieces, both alphabets) and hex. Bytes that are not UTF-8 (keys, keystores) have no text spelling:
 * decoding them as UTF-8 would lose bytes, and with them every encoded form.
 */
export function byteForms(bytes: Buffer): string[] {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? valueForms(text) : [...new Set(encodedForms(bytes))];
}

function encodedForms(bytes: Buffer): string[] {
  const std = bytes.toString('base64');
  const hex = bytes.toString('hex');
  const forms = [std, toUrlAlphabet(std), hex, hex.toUpperCase()];
  for (const core of base64Cores(bytes)) {
    if (core.length < MIN_KNOWN_VALUE_LENGTH + 1) continue;
    forms.push(core, toUrlAlphabet(core));
  }
  return forms;
}
