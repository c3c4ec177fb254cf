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

const validators: Record<'AgentPolicy' | 'Approval', ValidateFunction> = {
  AgentPolicy: ajv.compile(agentPolicySchema),
  Approval: ajv.compile(approvalSchema),
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
