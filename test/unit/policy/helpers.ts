// Builders shared by the policy unit tests.
import type { AgentPolicy, AgentPolicySpec } from '../../../src/api/types.js';
import type { RequestAttributes, UserInfo } from '../../../src/policy/types.js';

export function policy(name: string, spec: Partial<AgentPolicySpec> & Pick<AgentPolicySpec, 'agents'>): AgentPolicy {
  return { apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name }, spec: spec as AgentPolicySpec };
}

export const agent: UserInfo = { username: 'agent-ci', groups: ['airlock:agents', 'system:authenticated'] };

export function req(over: Partial<RequestAttributes> = {}): RequestAttributes {
  return { user: agent, verb: 'get', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'team-a', via: 'proxy', ...over };
}

export function pod(spec: Record<string, unknown>, meta: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'team-a', ...meta }, spec };
}
