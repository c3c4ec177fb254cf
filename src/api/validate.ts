// Runtime validation of Airlock objects with ajv, using the same schemas the CRDs carry, with error
// messages that name the offending field (e.g. "spec.rules[2].action: must be one of allow, deny, ...").
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { agentPolicySchema, approvalSchema } from './schemas.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
for (const k of ['x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-preserve-unknown-fields']) {
  ajv.addKeyword({ keyword: k });
}

/**
 * The schema with unknown fields refused wherever it lists properties. The API server prunes unknown fields
 * of a CRD silently (a structural schema cannot say additionalProperties: false), so a typo such as
 * `match.resourcs` would vanish and widen the rule to every resource; offline and in Airlock's own checks
 * it is an error naming the field instead. (kubectl apply refuses it too, by server-side field validation.)
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' && v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, strict(sub)])) : strict(v);
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}

const validators: Record<'AgentPolicy' | 'Approval', ValidateFunction> = {
  AgentPolicy: ajv.compile(strict(agentPolicySchema) as object),
  Approval: ajv.compile(strict(approvalSchema) as object),
};

/** Turns an ajv instance path (/spec/rules/2/action) into a field path (spec.rules[2].action). */
export function fieldPath(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += (out ? '.' : '') + seg;
  }
  return out;
}

function describe(e: ErrorObject): string {
  let path = fieldPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required') path = (path ? path + '.' : '') + String(p.missingProperty);
  if (e.keyword === 'additionalProperties') path = (path ? path + '.' : '') + String(p.additionalProperty);
  let msg = e.message ?? 'is invalid';
  if (e.keyword === 'enum') msg = `must be one of ${(p.allowedValues as unknown[]).join(', ')}`;
  if (e.keyword === 'required') msg = 'is required';
  if (e.keyword === 'additionalProperties') msg = 'unknown field';
  return `${path || '(root)'}: ${msg}`;
}

export interface ValidationResult { valid: boolean; errors: string[] }

export function validateObject(kind: 'AgentPolicy' | 'Approval', obj: unknown): ValidationResult {
  const v = validators[kind];
  if (v(obj)) return { valid: true, errors: [] };
  const seen = new Set<string>();
  const errors = (v.errors ?? []).map(describe).filter((m) => (seen.has(m) ? false : (seen.add(m), true)));
  return { valid: false, errors };
}
