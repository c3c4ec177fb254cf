import { describe, expect, it } from '@jest/globals';
import { BadReview, parseReview, toAttributes, verbOf, type AdmissionRequest } from '../../../src/webhook/admission.js';
import { auditWarnings, denyMessage, mutateMessage, pendingMessage } from '../../../src/policy/verdict.js';
import type { Decision } from '../../../src/policy/types.js';
import type { Approval } from '../../../src/api/types.js';

const req = (over: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u1', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' },
  namespace: 'prod', name: 'web', operation: 'UPDATE', userInfo: { username: 'ci', uid: 'uid-ci', groups: ['g'], extra: { 'oidc.airlock.dev/sub': ['x'] } },
  object: { metadata: { name: 'web' }, spec: { replicas: 2 } }, oldObject: { metadata: { name: 'web' }, spec: { replicas: 1 } }, dryRun: false,
  options: { kind: 'UpdateOptions' }, ...over,
});

describe('parseReview', () => {
  const ok = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req() };
  it('accepts v1 and v1beta1', () => {
    expect(parseReview(ok).request.uid).toBe('u1');
    expect(parseReview({ ...ok, apiVersion: 'admission.k8s.io/v1beta1' }).apiVersion).toBe('admission.k8s.io/v1beta1');
  });
  it.each([
    [null, /JSON object/],
    [{ ...ok, kind: 'Pod' }, /kind must be AdmissionReview/],
    [{ ...ok, apiVersion: 'v1' }, /apiVersion must be one of/],
    [{ ...ok, request: undefined }, /request is missing/],
    [{ ...ok, request: { ...req(), uid: '' } }, /request\.uid is missing/],
    [{ ...ok, request: { ...req(), operation: 'READ' } }, /operation/],
    [{ ...ok, request: { ...req(), resource: 'deployments' } }, /request\.resource/],
    [{ ...ok, request: { ...req(), userInfo: undefined } }, /userInfo is missing/],
    [{ ...ok, request: { ...req(), userInfo: { username: 5 } } }, /username/],
    [{ ...ok, request: { ...req(), object: [1] } }, /request\.object must be an object/],
    [{ ...ok, request: { ...req(), namespace: 7 } }, /request\.namespace/],
    [{ ...ok, request: { ...req(), dryRun: 'yes' } }, /dryRun/],
  ])('rejects %j', (body, msg) => {
    expect(() => parseReview(body)).toThrow(BadReview);
    expect(() => parseReview(body)).toThrow(msg);
  });
});

describe('toAttributes', () => {
  it('maps operations to verbs', () => {
    expect(verbOf(req({ operation: 'CREATE' }))).toBe('create');
    expect(verbOf(req())).toBe('update');
    expect(verbOf(req({ options: { kind: 'PatchOptions' } }))).toBe('patch');
    expect(verbOf(req({ operation: 'DELETE' }))).toBe('delete');
    expect(verbOf(req({ operation: 'CONNECT', subResource: 'exec' }))).toBe('create');
    expect(verbOf(req({ operation: 'CONNECT', subResource: 'proxy' }))).toBe('proxy');
  });
  it('carries user, resource, objects, dryRun and options via webhook', () => {
    const a = toAttributes(req({ dryRun: true, subResource: 'scale' }), { team: 'x' });
    expect(a).toMatchObject({
      user: { username: 'ci', uid: 'uid-ci', groups: ['g'], extra: { 'oidc.airlock.dev/sub': ['x'] } }, verb: 'update', isResourceRequest: true,
      apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', subresource: 'scale', namespace: 'prod', name: 'web',
      dryRun: true, via: 'webhook', operation: 'UPDATE', namespaceLabels: { team: 'x' }, options: { kind: 'UpdateOptions' },
    });
    expect(a.object).toEqual({ metadata: { name: 'web' }, spec: { replicas: 2 } });
    expect(a.oldObject).toEqual({ metadata: { name: 'web' }, spec: { replicas: 1 } });
  });
  it('takes the name from the object when the request has none (generateName is resolved by then)', () => {
    expect(toAttributes(req({ name: '', operation: 'CREATE', object: { metadata: { name: 'gen-x1' } }, oldObject: null })).name).toBe('gen-x1');
    expect(toAttributes(req({ operation: 'DELETE', object: null })).object).toBeUndefined();
  });
});

const common = { agent: true, policies: ['p'], explanations: [{ detector: 'privileged', path: 'spec.containers[0].securityContext.privileged', message: 'container runs privileged' }], audits: [], recording: { enabled: false, bodies: false } };

describe('messages', () => {
  it('names policy, rule and field paths in denials, without repeating what the reason already says', () => {
    const m = denyMessage({ action: 'deny', reason: 'privileged pods are not allowed', matched: { policy: 'p', rule: 'r' }, ...common });
    expect(m).toBe('airlock: denied by policy p rule r: privileged pods are not allowed (spec.containers[0].securityContext.privileged: container runs privileged [privileged])');
    const engineStyle = denyMessage({ action: 'deny', reason: 'AgentPolicy "p" rule "r": denied (spec.containers[0].securityContext.privileged: container runs privileged)', matched: { policy: 'p', rule: 'r' }, ...common });
    expect(engineStyle.match(/securityContext\.privileged/g)).toHaveLength(1);
    expect(engineStyle).toBe('airlock: denied by policy p rule r: denied (spec.containers[0].securityContext.privileged: container runs privileged)');
  });
  it('turns mutate into a deny naming the required patch', () => {
    const m = mutateMessage({ action: 'mutate', reason: 'needs a team label', patch: [{ op: 'add', path: '/metadata/labels/team', value: 'x' }], matched: { policy: 'p', rule: 'label' }, ...common, explanations: [] });
    expect(m).toContain('policy p rule label: needs a team label');
    expect(m).toContain('[{"op":"add","path":"/metadata/labels/team","value":"x"}]');
  });
  it('tells the requester how to get a hold approved', () => {
    const d = { action: 'hold', reason: 'prod', matched: { policy: 'p', rule: 'r' }, ...common, explanations: [] } as unknown as Extract<Decision, { action: 'hold' }>;
    const a = { metadata: { name: 'deployments-web-0123456789' } } as Approval;
    expect(pendingMessage(a.metadata.name!, d, true)).toMatch(/^airlock: held for approval: kubectl approve deployments-web-0123456789 \(Approval deployments-web-0123456789; policy p rule r: prod\)/);
    expect(pendingMessage(a.metadata.name!, d, false)).toContain('dry run');
  });
  it('keeps audit warnings short', () => {
    const w = auditWarnings([{ policy: 'p', rule: 'r', message: 'x'.repeat(500), explanations: [] }]);
    expect(w[0]!.length).toBeLessThanOrEqual(250);
    expect(w[0]).toContain('airlock audit: AgentPolicy "p" rule "r"');
  });
});
