// The CRD's CEL rules (x-kubernetes-validations) run only in the API server. Each one has an offline twin
// in the policy compiler, so `kubectl airlock test`, the webhook's own check and the status controller
// refuse what the API server would. This test keeps them paired: a new CEL rule without a case here fails.
import { describe, expect, it } from '@jest/globals';
import { agentPolicySchema } from '../../../src/api/schemas.js';
import { Engine } from '../../../src/policy/engine.js';
import { policy } from './helpers.js';

function celRules(schema: unknown, out: string[] = []): string[] {
  if (Array.isArray(schema)) schema.forEach((s) => celRules(s, out));
  else if (schema && typeof schema === 'object') {
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'x-kubernetes-validations') out.push(...(v as { rule: string }[]).map((r) => r.rule));
      else celRules(v, out);
    }
  }
  return [...new Set(out)];
}

const approvals = { approvers: { groups: ['airlock:approvers'] } };
const agents = { users: ['agent-ci'] };

/** CEL rule -> a spec that breaks it, and the offline error expected. */
const twins: Record<string, { spec: Record<string, unknown>; error: RegExp }> = {
  "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)": {
    spec: { agents, rules: [{ name: 'r', match: { labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, action: 'deny' }] },
    error: /^spec\.rules\[0\]\.match\.labelSelector\.matchExpressions\[0\]\.values: must be non-empty for In/,
  },
  'has(self.wasmBase64) != has(self.configMapRef)': {
    spec: { agents, rules: [{ name: 'r', rego: { entrypoint: 'x/deny' }, action: 'deny' }] },
    error: /^spec\.rules\[0\]\.rego: .*(exactly one|wasmBase64|configMapRef)/,
  },
  "self.action == 'mutate' ? has(self.mutate) : !has(self.mutate)": {
    spec: { agents, rules: [{ name: 'r', action: 'mutate' }] },
    error: /^spec\.rules\[0\]\.mutate: required for action mutate/,
  },
  "!has(self.hold) || self.action == 'hold'": {
    spec: { agents, approvals, rules: [{ name: 'r', action: 'deny', hold: { required: 1 } }] },
    error: /^spec\.rules\[0\]\.hold: only allowed for action hold/,
  },
  '!(has(self.namespace) && self.namespace && has(self.label))': {
    spec: { agents, approvals, budgets: [{ name: 'b', match: {}, limit: 1, window: '1m', per: { namespace: true, label: 'team' } }] },
    error: /^spec\.budgets\[0\]\.per: names a namespace or a label, not both/,
  },
  "!has(self.hold) || !has(self.onExhausted) || self.onExhausted == 'hold'": {
    spec: { agents, approvals, budgets: [{ name: 'b', match: {}, limit: 1, window: '1m', onExhausted: 'deny', hold: { required: 1 } }] },
    error: /^spec\.budgets\[0\]\.hold: only allowed for onExhausted hold/,
  },
  "!has(self.grant) || !has(self.onExhausted) || self.onExhausted == 'hold'": {
    spec: { agents, budgets: [{ name: 'b', match: {}, limit: 1, window: '1m', onExhausted: 'audit', grant: 2 }] },
    error: /^spec\.budgets\[0\]\.grant: only allowed for onExhausted hold/,
  },
  'has(self.users) || has(self.groups) || has(self.serviceAccounts) || has(self.claims)': {
    spec: { agents: {}, rules: [] },
    error: /^spec\.agents: must name at least one of users, groups, serviceAccounts or claims/,
  },
};

describe('CEL rules of the AgentPolicy CRD', () => {
  it('each have an offline twin in the policy compiler', () => {
    expect(celRules(agentPolicySchema).sort()).toEqual(Object.keys(twins).sort());
  });

  it.each(Object.entries(twins))('%s is refused offline, naming the field', async (_rule, { spec, error }) => {
    const r = await new Engine({ metrics: false }).upsert(policy('p', spec as never));
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual(expect.arrayContaining([expect.stringMatching(error)]));
  });
});
