// RFC 6902 JSON Patch, applied to a deep copy (the proxy's mutate action). Throws on an invalid patch.
import type { JsonPatchOp } from '../api/types.js';

type Json = unknown;

function unescape(token: string): string {
  return token.replace(/~1/gu, '/').replace(/~0/gu, '~');
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map(unescape);
}

function isContainer(v: Json): v is Record<string, Json> | Json[] {
  return typeof v === 'object' && v !== null;
}

function getAt(doc: Json, tokens: string[]): Json {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      const i = Number(t);
      if (!/^(0|[1-9][0-9]*)$/u.test(t) || i >= cur.length) throw new Error(`path element ${t} not found`);
      cur = cur[i];
    } else if (isContainer(cur) && Object.prototype.hasOwnProperty.call(cur, t)) {
      cur = (cur as Record<string, Json>)[t];
    } else {
      throw new Error(`path element ${JSON.stringify(t)} not found`);
    }
  }
  return cur;
}

function parentOf(doc: Json, tokens: string[]): { parent: Record<string, Json> | Json[]; key: string } {
  if (tokens.length === 0) throw new Error('operation on the document root is not supported');
  const parent = getAt(doc, tokens.slice(0, -1));
  if (!isContainer(parent)) throw new Error('parent of the target is not an object or array');
  return { parent, key: tokens[tokens.length - 1]! };
}

function add(doc: Json, tokens: string[], value: Json): void {
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(key === '-' || /^(0|[1-9][0-9]*)$/u.test(key)) || i > parent.length) throw new Error(`invalid array index ${key}`);
    parent.splice(i, 0, value);
  } else {
    if (key === '__proto__') throw new Error('invalid key __proto__');
    parent[key] = value;
  }
}

function remove(doc: Json, tokens: string[]): Json {
  const { parent, key } = parentOf(doc, tokens);
  const old = getAt(doc, tokens);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return old;
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
function canon(v: Json): Json {
  if (Array.isArray(v)) return v.map(canon);
  if (isContainer(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, Json>)[k])]));
  return v;
}

export function applyJsonPatch<T>(doc: T, ops: JsonPatchOp[]): T {
  const out = structuredClone(doc) as Json;
  for (const op of ops) {
    const tokens = parsePointer(op.path);
    switch (op.op) {
      case 'add': add(out, tokens, structuredClone(op.value)); break;
      case 'remove': remove(out, tokens); break;
      case 'replace': getAt(out, tokens); remove(out, tokens); add(out, tokens, structuredClone(op.value)); break;
      case 'move': { const v = remove(out, parsePointer(op.from ?? '')); add(out, tokens, v); break; }
      case 'copy': add(out, tokens, structuredClone(getAt(out, parsePointer(op.from ?? '')))); break;
      case 'test': if (!deepEqual(getAt(out, tokens), op.value)) throw new Error(`test failed at ${op.path}`); break;
      default: throw new Error(`unknown patch op ${String((op as { op: unknown }).op)}`);
    }
  }
  return out as T;
}

/** Escapes a key for use in a JSON pointer. */
export function pointerToken(key: string): string {
  return key.replace(/~/gu, '~0').replace(/\//gu, '~1');
}
