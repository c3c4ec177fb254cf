// Documents held inside a string value (a ConfigMap value or annotation holding JSON or YAML: a kubeconfig,
// an application config, a docker config, a manifest). They are parsed to learn which values they protect;
// the string itself is then scrubbed of those values, so its format is kept. Parsing is bounded: strings
// above MAX_NESTED_DOC_BYTES are not parsed, a unit may parse at most its budget in total, and YAML is
// loaded with the core schema (no custom types, no merge keys that copy) whose aliases share one object
// (walkers track visited objects, so an alias bomb costs its distinct nodes only).
import yaml from 'js-yaml';
import { parseJson } from './json-parse.js';
import { KV_HINTS } from './credential-names.js';

/** Largest string parsed as a nested document. */
export const MAX_NESTED_DOC_BYTES = 256 * 1024;
/** Nested documents parsed per unit, in bytes (a unit of many large documents parses only the first ones). */
export const DEFAULT_NESTED_BUDGET_BYTES = 4 * 1024 * 1024;
/** Documents in one multi-document YAML string that are looked at. */
const MAX_YAML_DOCUMENTS = 100;

export interface NestedBudget {
  /** Bytes still to be parsed in this unit. */
  bytes: number;
}

function mayHoldCredentials(text: string): boolean {
  const lower = text.toLowerCase();
  return KV_HINTS.some((h) => lower.includes(h));
}

/** The objects or arrays a string holds as JSON or YAML (empty when it is not such a document). */
export function nestedDocuments(text: string, budget: NestedBudget): unknown[] {
  if (text.length < 8 || text.length > MAX_NESTED_DOC_BYTES || text.length > budget.bytes) return [];
  if (!text.includes(':') || !mayHoldCredentials(text)) return [];
  const trimmed = text.trimStart();
  const first = trimmed.charCodeAt(0);
  budget.bytes -= text.length;
  if (first === 123 || first === 91) {
    try {
      return [parseJson(text)];
    } catch {
      // not JSON; YAML (a superset, mostly) may still read it
    }
  }
  if (!text.includes('\n') && !text.includes(': ')) return [];
  try {
    const docs: unknown[] = [];
    yaml.loadAll(text, (d) => {
      if (docs.length < MAX_YAML_DOCUMENTS && typeof d === 'object' && d !== null) docs.push(d);
    }, { schema: yaml.CORE_SCHEMA, json: true });
    return docs;
  } catch {
    return [];
  }
}
