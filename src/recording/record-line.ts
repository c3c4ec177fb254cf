// How a record becomes one line of its session file, and how a line's hash is checked.
//
// Lines of format 2 (written since 0.2) begin with their hash: {"hash":"<sha256>",<members>}. The hash is
// the sha256 of the line's own text without that first member, {<members>}, so a record is serialised once,
// in the order its members were set, and bodies that are already JSON text (what the masker sent the
// agent) are written as they are instead of being parsed and re-serialised. Format 1 lines (canonical JSON,
// keys sorted, hash among them) are still verified by their own rule (canonical.ts): no format 1 line can
// begin with "hash", as its sorted keys always include "decision".
import { sha256Hex } from './canonical.js';

/**
 * A body held as the JSON text the agent received. Only for text known to be one well-formed JSON value
 * (the masker's own output); serialisers that do not know this type still get the value via toJSON.
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text; // not a parameter property: recorder sources also run type-stripped (tests' child processes)
  }
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

const HASH_PREFIX = '{"hash":"';
const HASH_MEMBER_LENGTH = HASH_PREFIX.length + 64 + 1; // through the closing quote

/** An object's JSON with its JsonText members written as they are (top-level members only). */
export function jsonWithTexts(obj: object): string {
  let out = '{';
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || typeof v === 'function') continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + (v instanceof JsonText ? v.text : JSON.stringify(v));
  }
  return out + '}';
}

/** The record's format 2 line (without the newline) and its hash; a `hash` member of the record is ignored. */
export function recordLine(rec: object): { hash: string; line: string } {
  const { hash: _ignored, ...rest } = rec as Record<string, unknown>;
  const members = jsonWithTexts(rest);
  const hash = sha256Hex(members);
  return { hash, line: HASH_PREFIX + hash + '"' + (members === '{}' ? '}' : ',' + members.slice(1)) };
}

/** Whether a line is of format 2 (its hash first). */
export function isFormat2(line: string): boolean {
  return line.startsWith(HASH_PREFIX);
}

/** For a format 2 line: the hash it states and the hash of its text; undefined when it is malformed. */
export function format2Hashes(line: string): { stated: string; actual: string } | undefined {
  const stated = line.slice(HASH_PREFIX.length, HASH_PREFIX.length + 64);
  if (!/^[0-9a-f]{64}$/u.test(stated) || line[HASH_MEMBER_LENGTH - 1] !== '"') return undefined;
  const next = line[HASH_MEMBER_LENGTH];
  if (next === '}' && line.length === HASH_MEMBER_LENGTH + 1) return { stated, actual: sha256Hex('{}') };
  if (next !== ',') return undefined;
  return { stated, actual: sha256Hex('{' + line.slice(HASH_MEMBER_LENGTH + 1)) };
}
