// The ServiceAccount bound: which ServiceAccounts a request's pod specs run as, the powerfulServiceAccount
// detector (held, unknown, failed, unchecked permissions), the enricher and the engine's union of bounds.
import { describe, expect, it } from '@jest/globals';
import { resolveDetectorSettings } from '../../../src/policy/compile.js';
import { DETECTORS } from '../../../src/policy/detectors/index.js';
import { Engine } from '../../../src/policy/engine.js';
import { enrichServiceAccounts, type ServiceAccountChecker } from '../../../src/policy/service-account-enrich.js';
import { DEFAULT_SERVICE_ACCOUNT_BOUND, describePermission, permissionKey, serviceAccountsOf } from '../../../src/policy/service-account-power.js';
import type { ServiceAccountPermission } from '../../../src/api/types.js';
import { agent, policy, pod, req } from './helpers.js';

const detect = DETECTORS.powerfulServiceAccount!;
const settings = resolveDetectorSettings();
const ALL = DEFAULT_SERVICE_ACCOUNT_BOUND.map(permissionKey);
const checkedAs = (dangerous: string[] = []) => ({ dangerous, checked: ALL });
const createPod = (spec: Record<string, unknown>, over = {}) => req({ verb: 'create', object: pod({ containers: [{ name: 'c', image: 'x' }], ...spec }), ...over });
const deployment = (spec: Record<string, unknown>) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'team-a' },
  spec: { selector: {}, template: { spec: { containers: [{ name: 'c', image: 'x' }], ...spec } } },
});

describe('permission keys and the default bound', () => {
  it('names permissions stably and readably', () => {
    expect(permissionKey({ verb: '*', group: '*', resource: '*', namespace: '*' })).toBe('* *.* in *');
    expect(permissionKey({ verb: 'create', resource: 'pods', subresource: 'exec' })).toBe('create pods/exec in same');
    expect(describePermission({ verb: 'get', resource: 'secrets', namespace: '*' })).toBe('get secrets cluster-wide');
    expect(describePermission({ verb: 'create', resource: 'pods', namespace: 'kube-system' })).toBe('create pods in namespace kube-system');
    expect(describePermission({ verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace: '*' })).toBe('bind clusterroles.rbac.authorization.k8s.io cluster-wide');
  });

  it('covers what the design asks for, without duplicates', () => {
    for (const k of ['* *.* in *', 'create pods/exec in same', 'get secrets in same', 'list secrets in *', 'watch secrets in *',
      'escalate roles.rbac.authorization.k8s.io in same', 'bind clusterroles.rbac.authorization.k8s.io in *',
      'patch clusterrolebindings.rbac.authorization.k8s.io in *', 'create rolebindings.rbac.authorization.k8s.io in same',
      'impersonate users in *', 'impersonate groups in *', 'impersonate serviceaccounts in same', 'create serviceaccounts/token in same',
      'update certificatesigningrequests/approval.certificates.k8s.io in *', 'create certificatesigningrequests.certificates.k8s.io in *',
      'patch nodes in *', 'update validatingwebhookconfigurations.admissionregistration.k8s.io in *',
      'update mutatingwebhookconfigurations.admissionregistration.k8s.io in *', 'create pods in kube-system']) {
      expect(ALL).toContain(k);
    }
    expect(new Set(ALL).size).toBe(ALL.length);
  });
});

describe('serviceAccountsOf', () => {
  it('uses serviceAccountName, the deprecated serviceAccount, then "default"', () => {
    expect(serviceAccountsOf(createPod({}))).toEqual([{ namespace: 'team-a', name: 'default', key: 'team-a/default', path: 'spec.serviceAccountName' }]);
    expect(serviceAccountsOf(createPod({ serviceAccountName: 'web' })).map((u) => u.key)).toEqual(['team-a/web']);
    expect(serviceAccountsOf(createPod({ serviceAccount: 'old' }))).toEqual([{ namespace: 'team-a', name: 'old', key: 'team-a/old', path: 'spec.serviceAccount' }]);
    // Both set and different: both are judged.
    expect(serviceAccountsOf(createPod({ serviceAccountName: 'a', serviceAccount: 'b' })).map((u) => u.path)).toEqual(['spec.serviceAccountName', 'spec.serviceAccount']);
  });

  it('skips pods without the token unless a projected token or CSI volume brings it back', () => {
    expect(serviceAccountsOf(createPod({ automountServiceAccountToken: false }))).toEqual([]);
    expect(serviceAccountsOf(createPod({ automountServiceAccountToken: false, volumes: [{ name: 't', projected: { sources: [{ configMap: { name: 'x' } }, { serviceAccountToken: { path: 't' } }] } }] }))).toHaveLength(1);
    expect(serviceAccountsOf(createPod({ automountServiceAccountToken: false, volumes: [{ name: 'c', csi: { driver: 'secrets-store.csi.k8s.io' } }] }))).toHaveLength(1);
    expect(serviceAccountsOf(createPod({ automountServiceAccountToken: true }))).toHaveLength(1);
  });

  it('finds workload templates and ignores reads and deletes', () => {
    expect(serviceAccountsOf(req({ verb: 'update', apiGroup: 'apps', resource: 'deployments', object: deployment({ serviceAccountName: 'x' }) }))[0]!.path).toBe('spec.template.spec.serviceAccountName');
    expect(serviceAccountsOf(req({ verb: 'delete', oldObject: pod({ containers: [] }) }))).toEqual([]);
    expect(serviceAccountsOf(req({ verb: 'get' }))).toEqual([]);
  });
});

describe('powerfulServiceAccount', () => {
  it('fires when the ServiceAccount holds a bounded permission, naming it', () => {
    const got = detect(createPod({ serviceAccountName: 'admin' }, { serviceAccounts: { 'team-a/admin': checkedAs(['* *.* in *']) } }), settings);
    expect(got).toEqual([{ detector: 'powerfulServiceAccount', path: 'spec.serviceAccountName', message: expect.stringContaining('team-a/admin, which may * *.* cluster-wide') }]);
  });

  it('does not fire for a ServiceAccount that holds none', () => {
    expect(detect(createPod({}, { serviceAccounts: { 'team-a/default': checkedAs() } }), settings)).toEqual([]);
  });

  it('fails closed: unknown, failed, or not every bounded permission checked', () => {
    expect(detect(createPod({}), settings)[0]!.message).toContain('were not checked before deciding');
    expect(detect(createPod({}, { serviceAccounts: { 'team-a/default': { error: 'timeout' } } }), settings)[0]!.message).toContain('could not be checked (timeout)');
    const partial = detect(createPod({}, { serviceAccounts: { 'team-a/default': { dangerous: [], checked: ALL.slice(1) } } }), settings);
    expect(partial[0]!.message).toContain('* *.* cluster-wide were not checked');
    expect(detect(createPod({}, { namespace: undefined, object: { kind: 'Pod', metadata: {}, spec: { containers: [] } } }), settings)[0]!.message).toContain('namespace the request does not name');
  });

  it('judges against the policy bound: a custom bound, or none', () => {
    const custom = resolveDetectorSettings({ serviceAccountBound: { permissions: [{ verb: 'list', resource: 'pods' }] } });
    const powers = { 'team-a/default': { dangerous: ['* *.* in *'], checked: ['list pods in same'] } };
    expect(detect(createPod({}, { serviceAccounts: powers }), custom)).toEqual([]);
    const listing = { 'team-a/default': { dangerous: ['list pods in same'], checked: ['list pods in same'] } };
    expect(detect(createPod({}, { serviceAccounts: listing }), custom)[0]!.message).toContain('list pods in its namespace');
    expect(detect(createPod({}), resolveDetectorSettings({ serviceAccountBound: { permissions: [] } }))).toEqual([]);
  });

  it('copes with hostile shapes in serviceAccounts', () => {
    const odd = { 'team-a/default': { dangerous: 'x', checked: null } } as unknown as Record<string, { dangerous: string[]; checked: string[] }>;
    expect(detect(createPod({}, { serviceAccounts: odd }), settings)).toHaveLength(1);
  });
});

class FakeChecker implements ServiceAccountChecker {
  calls: string[] = [];
  constructor(private readonly held: Record<string, string[] | Error>) {}
  async check(namespace: string, name: string, permissions: readonly ServiceAccountPermission[]): Promise<string[]> {
    this.calls.push(`${namespace}/${name}:${permissions.length}`);
    const h = this.held[`${namespace}/${name}`] ?? [];
    if (h instanceof Error) throw h;
    return h;
  }
}

const bounded = policy('bounded', { agents: { users: ['agent-ci'] }, defaultAction: 'allow', rules: [{ name: 'sa', detectors: ['powerfulServiceAccount'], action: 'deny' }] });

describe('enrichServiceAccounts', () => {
  it('checks each ServiceAccount of the pod specs once, against the identity bound', async () => {
    const engine = new Engine({ metrics: false });
    await engine.upsert(bounded);
    const checker = new FakeChecker({ 'team-a/admin': ['* *.* in *'], 'team-a/broken': new Error('SubjectAccessReview failed') });
    const list = { kind: 'List', items: [pod({ serviceAccountName: 'admin', containers: [] }), pod({ serviceAccountName: 'admin', containers: [] }), pod({ serviceAccountName: 'broken', containers: [] })] };
    const attrs = req({ verb: 'create', object: list });
    await enrichServiceAccounts(attrs, checker, engine);
    expect(checker.calls.sort()).toEqual([`team-a/admin:${ALL.length}`, `team-a/broken:${ALL.length}`]);
    expect(attrs.serviceAccounts).toEqual({ 'team-a/admin': { dangerous: ['* *.* in *'], checked: ALL }, 'team-a/broken': { error: 'SubjectAccessReview failed' } });
    const d = engine.decide(attrs);
    expect(d.action).toBe('deny');
    expect(d.explanations.map((e) => e.message).join('\n')).toMatch(/team-a\/admin, which may \* \*\.\* cluster-wide[\s\S]*could not be checked \(SubjectAccessReview failed\)/);
  });

  it('does nothing for requests without pod specs, for non-agents, and when no policy bounds ServiceAccounts', async () => {
    const engine = new Engine({ metrics: false });
    await engine.upsert(bounded);
    const checker = new FakeChecker({});
    const cm = req({ verb: 'create', resource: 'configmaps', object: { kind: 'ConfigMap', metadata: { name: 'c' } } });
    await enrichServiceAccounts(cm, checker, engine);
    const human = createPod({}, { user: { username: 'alice', groups: [] } });
    await enrichServiceAccounts(human, checker, engine);
    const unbounded = new Engine({ metrics: false });
    await unbounded.upsert(policy('plain', { agents: { users: ['agent-ci'] }, defaultAction: 'allow' }));
    const p = createPod({});
    await enrichServiceAccounts(p, checker, unbounded);
    expect(checker.calls).toEqual([]);
    expect([cm.serviceAccounts, human.serviceAccounts, p.serviceAccounts]).toEqual([undefined, undefined, undefined]);
  });

  it('falls back to the default bound for engines that cannot say', async () => {
    const checker = new FakeChecker({});
    const attrs = createPod({});
    await enrichServiceAccounts(attrs, checker, {});
    expect(attrs.serviceAccounts).toEqual({ 'team-a/default': { dangerous: [], checked: ALL } });
  });
});

describe('Engine.serviceAccountBound', () => {
  it('unions the bounds of the identity policies that use the detector', async () => {
    const engine = new Engine({ metrics: false });
    await engine.upsert(bounded);
    await engine.upsert(policy('custom', {
      agents: { groups: ['airlock:agents'] }, defaultAction: 'allow',
      detectorSettings: { serviceAccountBound: { permissions: [{ verb: 'list', resource: 'pods' }, { verb: '*', group: '*', resource: '*', namespace: '*' }] } },
      rules: [{ name: 'sa', detectors: ['powerfulServiceAccount'], action: 'deny' }],
    }));
    await engine.upsert(policy('unused', { agents: { users: ['agent-ci'] }, defaultAction: 'allow', detectorSettings: { serviceAccountBound: { permissions: [{ verb: 'get', resource: 'nodes', namespace: '*' }] } } }));
    const keys = engine.serviceAccountBound(agent).map(permissionKey);
    expect(keys).toEqual(expect.arrayContaining([...ALL, 'list pods in same']));
    expect(keys).toHaveLength(ALL.length + 1);
    expect(engine.serviceAccountBound({ username: 'alice', groups: [] })).toEqual([]);
  });

  it('rejects a bound with a malformed namespace', async () => {
    const engine = new Engine({ metrics: false });
    const res = await engine.upsert(policy('bad', { agents: { users: ['x'] }, detectorSettings: { serviceAccountBound: { permissions: [{ verb: 'get', resource: 'secrets', namespace: 'Not_A_Namespace' }] } } }));
    expect(res.ok).toBe(false);
    expect(res.errors.join('\n')).toContain('serviceAccountBound');
  });
});
