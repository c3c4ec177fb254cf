// The secret values an object protects: what masking hides in it, collected so that the same values can
// be scrubbed wherever else they appear (labels, annotations, status, error messages, other objects' text).
//  - Secret data (base64-decoded) and stringData                                   when rules.secrets
//  - ConfigMap values under credential keys                                         when rules.configMaps
//  - values of env-like entries {name, value} anywhere whose name is a credential (or matches envNamePatterns)
//  - credential-named fields anywhere (spec.password, apiToken, clientSecret, client-key-data, token, auth)
//  - PEM private key blocks (and their body lines), URL passwords
//  - the same, inside JSON/YAML documents held in strings (kubeconfigs, app configs), bounded
//  - base64 values of those that decode to text (client-key-data): the decoded text too
//  - optionally every detector hit (tokens with a known shape)
import type { ResolvedMasking } from '../policy/types.js';
import { columnNameIsCredential, envNameIsSecret, fieldNameIsCredential } from './credential-names.js';
import { detectRegions } from './detectors.js';
import { isMarker } from './marker.js';
import { DEFAULT_NESTED_BUDGET_BYTES, nestedDocuments, type NestedBudget } from './nested-docs.js';
import { scanPem, scanUrlPassword } from './scanners.js';
import { MIN_KNOWN_VALUE_LENGTH } from './value-forms.js';

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !JSON.isRawJSON(v);
}

export interface ProtectedValuesOptions {
  /** Kind of the object when it carries none (list items, watch objects of a resource). */
  kindHint?: string;
  /** Also collect every detector hit (default true). The unit masker collects those while masking instead. */
  detectors?: boolean;
  /** The value is one Table row ({cells, object}) of a streamed Table. */
  tableRow?: boolean;
  /** For a Table row: which cells are credentials, by column (from columnDefinitions outside the row). */
  credentialColumns?: readonly boolean[];
  /** Bytes of nested JSON/YAML documents to parse (default DEFAULT_NESTED_BUDGET_BYTES). */
  nestedBudgetBytes?: number;
}

/** Nested documents inside nested documents are followed this deep. */
const MAX_NESTING = 3;
/** PEM body lines at least this long are values of their own (a key quoted line by line in a log). */
const MIN_PEM_LINE = 16;

/** Secret data/stringData, ConfigMap data/binaryData: maps whose keys are data, not field names. */
export function isDataMap(kind: string | undefined, key: string): boolean {
  return (kind === 'Secret' && (key === 'data' || key === 'stringData')) || (kind === 'ConfigMap' && (key === 'data' || key === 'binaryData'));
}

/** Whether an array looks like an env list: entries {name, value | valueFrom}. */
export function isEnvLike(arr: readonly unknown[]): boolean {
  for (const e of arr) if (isObj(e) && typeof e.name === 'string' && ('value' in e || 'valueFrom' in e)) return true;
  return false;
}

/** Column flags from Table columnDefinitions: true where the column names a credential. */
export function credentialColumnsOf(columnDefinitions: unknown): boolean[] | undefined {
  if (!Array.isArray(columnDefinitions)) return undefined;
  const flags = columnDefinitions.map((c) => isObj(c) && typeof c.name === 'string' && columnNameIsCredential(c.name));
  return flags.some(Boolean) ? flags : undefined;
}

/** Text of base64 that decodes to valid UTF-8 (round-trips), else undefined. */
export function decodeBase64Text(v: string): string | undefined {
  const bytes = Buffer.from(v, 'base64');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

function looksBase64(v: string): boolean {
  if (v.length < 8 || v.length > 1024 * 1024) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47 || c === 61 || c === 45 || c === 95;
    if (!ok) return false;
  }
  return true;
}

function printable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 32 && c !== 9 && c !== 10 && c !== 13) return false;
  }
  return true;
}

class Collector {
  readonly out = new Set<string>();
  private readonly visited = new Set<object>();
  private readonly budget: NestedBudget;
  private readonly rules: ResolvedMasking;
  private readonly detect: boolean;

  constructor(rules: ResolvedMasking, detect: boolean, budgetBytes: number) {
    this.rules = rules;
    this.detect = detect;
    this.budget = { bytes: budgetBytes };
  }

  add(v: string, depth: number): void {
    if (v.length < MIN_KNOWN_VALUE_LENGTH || isMarker(v) || this.out.has(v)) return;
    this.out.add(v);
    // client-key-data, docker "auth": the decoded text is protected too.
    if (looksBase64(v)) {
      const text = decodeBase64Text(v);
      if (text !== undefined && text.length >= MIN_KNOWN_VALUE_LENGTH && printable(text)) {
        this.out.add(text);
        this.text(text, depth);
      }
    }
  }

  /** Values inside any string: PEM blocks, URL passwords, detector hits, nested documents. */
  text(v: string, depth: number): void {
    if (v.length < MIN_KNOWN_VALUE_LENGTH) return;
    scanPem(v, v, (s, e) => {
      const block = v.slice(s, e);
      this.add(block, depth);
      for (const line of block.split(/\r?\n/)) {
        const l = line.trim();
        if (l.length >= MIN_PEM_LINE && !l.startsWith('-----')) this.out.add(l);
      }
    });
    scanUrlPassword(v, v, (s, e) => this.add(v.slice(s, e), depth));
    if (this.detect) for (const [s, e] of detectRegions(v)) this.add(v.slice(s, e), depth);
    if (depth < MAX_NESTING) for (const doc of nestedDocuments(v, this.budget)) this.walk(doc, '', undefined, depth + 1);
  }

  walk(node: unknown, key: string, kindHint: string | undefined, depth: number): void {
    if (typeof node === 'string') {
      if (node !== '' && fieldNameIsCredential(key)) this.add(node, depth);
      this.text(node, depth);
      return;
    }
    if (Array.isArray(node)) {
      if (this.visited.has(node)) return;
      this.visited.add(node);
      if (isEnvLike(node)) this.envValues(node, depth);
      for (const el of node) this.walk(el, isObj(el) ? '' : key, kindHint, depth);
      return;
    }
    if (!isObj(node) || this.visited.has(node)) return;
    this.visited.add(node);
    const ownKind = typeof node.kind === 'string' ? node.kind : undefined;
    const kind = ownKind && !ownKind.startsWith('PartialObjectMetadata') ? ownKind : kindHint;
    if (ownKind === undefined && typeof node.type === 'string' && isObj(node.object) && Object.keys(node).length <= 2) {
      this.walk(node.object, '', kindHint, depth);
      return;
    }
    if (kind === 'Table' && Array.isArray(node.rows)) {
      const cols = credentialColumnsOf(node.columnDefinitions);
      for (const row of node.rows) this.row(row, cols, kindHint, depth);
      return;
    }
    const itemHint = kind && kind !== 'List' && kind.endsWith('List') ? kind.slice(0, -4) : kindHint;
    const secret = kind === 'Secret' && this.rules.secrets && (isObj(node.data) || isObj(node.stringData));
    const configMap = kind === 'ConfigMap' && this.rules.configMaps;
    if (secret) this.secretValues(node, depth);
    if (configMap) this.configMapValues(node, depth);
    for (const [k, v] of Object.entries(node)) {
      if (k === 'kind' || k === 'apiVersion') continue;
      if (k === 'metadata') {
        this.metadata(v, depth);
        continue;
      }
      if (isDataMap(kind, k)) {
        // Collected above when the rules mask it; otherwise its keys are data, not field names.
        if (!secret && !configMap && isObj(v)) for (const x of Object.values(v)) if (typeof x === 'string') this.text(x, depth);
        continue;
      }
      this.walk(v, k, k === 'items' ? itemHint : undefined, depth);
    }
  }

  /** A Table row: its object, and the cells of credential columns. */
  row(row: unknown, cols: readonly boolean[] | undefined, kindHint: string | undefined, depth: number): void {
    if (!isObj(row)) return;
    if (cols && Array.isArray(row.cells)) row.cells.forEach((c, i) => { if (cols[i] && typeof c === 'string') this.add(c, depth); });
    if (Array.isArray(row.cells)) for (const c of row.cells) if (typeof c === 'string') this.text(c, depth);
    if (row.object !== undefined) this.walk(row.object, '', kindHint, depth);
  }

  private metadata(meta: unknown, depth: number): void {
    if (!isObj(meta) || !isObj(meta.annotations)) return;
    for (const v of Object.values(meta.annotations)) if (typeof v === 'string') this.text(v, depth);
  }

  private envValues(env: readonly unknown[], depth: number): void {
    for (const e of env) {
      if (isObj(e) && typeof e.name === 'string' && typeof e.value === 'string' && envNameIsSecret(e.name, this.rules.envNamePatterns)) this.add(e.value, depth);
    }
  }

  private secretValues(secret: Obj, depth: number): void {
    if (isObj(secret.data)) {
      for (const v of Object.values(secret.data)) {
        if (typeof v !== 'string') continue;
        const text = decodeBase64Text(v);
        if (text === undefined) {
          this.add(v, depth); // binary: its base64 text at least
          continue;
        }
        this.add(text, depth);
        this.text(text, depth);
      }
    }
    if (isObj(secret.stringData)) {
      for (const v of Object.values(secret.stringData)) {
        if (typeof v !== 'string') continue;
        this.add(v, depth);
        this.text(v, depth);
      }
    }
  }

  private configMapValues(cm: Obj, depth: number): void {
    if (isObj(cm.data)) {
      for (const [k, v] of Object.entries(cm.data)) {
        if (typeof v !== 'string') continue;
        if (envNameIsSecret(k, this.rules.envNamePatterns) || fieldNameIsCredential(k)) this.add(v, depth);
        this.text(v, depth);
      }
    }
    if (isObj(cm.binaryData)) {
      for (const v of Object.values(cm.binaryData)) {
        const text = typeof v === 'string' ? decodeBase64Text(v) : undefined;
        if (text !== undefined) this.text(text, depth);
      }
    }
  }
}

/** Internal entry: the values, as a Set. */
export function collectProtectedValues(obj: unknown, rules: ResolvedMasking, opts: ProtectedValuesOptions = {}): Set<string> {
  const c = new Collector(rules, opts.detectors ?? true, opts.nestedBudgetBytes ?? DEFAULT_NESTED_BUDGET_BYTES);
  if (opts.tableRow) c.row(obj, opts.credentialColumns, opts.kindHint, 0);
  else c.walk(obj, '', opts.kindHint, 0);
  return c.out;
}

/**
 * The secret values an object protects (Secret data decoded, credential env values and fields, kubeconfig
 * tokens and keys, PEM blocks, URL passwords, detector hits, and the same inside nested JSON/YAML), each
 * at least MIN_KNOWN_VALUE_LENGTH long. Pass them as MaskTarget.knownValues to scrub them from a response
 * about another object or from an error Status.
 */
export function protectedValuesOf(obj: unknown, rules: ResolvedMasking, opts: ProtectedValuesOptions = {}): string[] {
  return [...collectProtectedValues(obj, rules, opts)].filter((v) => v.length >= MIN_KNOWN_VALUE_LENGTH);
}
