// Semantics of the policy engine: identity selection, scoping, rule order, matching, combination across
// policies, masking/recording merge, non-agents, non-resource requests and failure handling.
import { describe, expect, it } from '@jest/globals';
import { Engine } from '../../../src/policy/engine.js';
import type { Decision } from '../../../src/policy/types.js';
import { agent, pod, policy, req } from './helpers.js';

const allowAll = { name: 'all', action: 'allow' as const };

async function engineWith(...ps: ReturnType<typeof policy>[]): Promise<Engine> {
  const e = new Engine({ metrics: false });
  for (const p of ps) {
    const r = await e.upsert(p);
    expect(r.errors).toEqual([]);
  }
  return e;
}

describe('agent selection', () => {
  it('matches users, groups, service accounts and OIDC claims, with globs', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['bot-*'], groups: ['team:ai'], serviceAccounts: [{ namespace: 'agents', name: '*' }], claims: [{ claim: 'agent', values: ['true'] }] },
      rules: [allowAll],
    }));
    const who = (username: string, groups: string[] = [], extra?: Record<string, string[]>) => e.decide(req({ user: { username, groups, ...(extra ? { extra } : {}) } }));
    expect(who('bot-7').agent).toBe(true);
    expect(who('human', ['team:ai']).agent).toBe(true);
    expect(who('system:serviceaccount:agents:deployer').agent).toBe(true);
    expect(who('system:serviceaccount:other:deployer').agent).toBe(false);
    expect(who('carol', [], { 'oidc.airlock.dev/agent': ['true'] }).agent).toBe(true);
    expect(who('carol', [], { 'oidc.airlock.dev/agent': ['false'] }).agent).toBe(false);
    expect(who('robot').agent).toBe(false);
    expect(e.policiesFor({ username: 'bot-1', groups: [] })).toEqual(['p']);
  });

  it('lets identities named by no policy through with agent false and no masking', async () => {
    const e = await engineWith(policy('p', { agents: { users: ['agent-ci'] }, rules: [] }));
    const d = e.decide(req({ user: { username: 'alice', groups: ['airlock:approvers'] }, verb: 'delete', resource: 'namespaces' }));
    expect(d).toMatchObject({ action: 'allow', agent: false, policies: [] });
    expect(d.masking).toBeUndefined();
    expect(d.matched).toBeUndefined();
  });
});

describe('namespace scoping', () => {
  it('governs listed namespaces minus excluded ones; cluster-scoped only by unrestricted policies', async () => {
    const e = await engineWith(policy('scoped', { agents: { users: ['agent-ci'] }, namespaces: ['team-*'], excludeNamespaces: ['team-secret'], rules: [allowAll] }));
    expect(e.decide(req({ namespace: 'team-a' })).action).toBe('allow');
    const excluded = e.decide(req({ namespace: 'team-secret' }));
    expect(excluded.action).toBe('deny');
    expect(excluded.agent).toBe(true);
    expect((excluded as { reason: string }).reason).toContain('no AgentPolicy');
    expect(e.decide(req({ namespace: 'prod' })).action).toBe('deny');
    const cluster = e.decide(req({ namespace: undefined, resource: 'nodes' }));
    expect(cluster.action).toBe('deny');
  });

  it('cluster-wide lists are governed by unrestricted policies only', async () => {
    const e = await engineWith(
      policy('scoped', { agents: { users: ['agent-ci'] }, namespaces: ['team-*'], rules: [allowAll] }),
      policy('global', { agents: { users: ['agent-ci'] }, rules: [{ name: 'read', match: { verbs: ['list'] }, action: 'allow' }] }),
    );
    const d = e.decide(req({ verb: 'list', namespace: undefined }));
    expect(d).toMatchObject({ action: 'allow', matched: { policy: 'global', rule: 'read' } });
  });
});

describe('rules', () => {
  it('first matching non-audit rule decides; audits accumulate; defaultAction otherwise', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] },
      rules: [
        { name: 'watch-audit', match: { verbs: ['get'] }, action: 'audit', message: 'saw a get' },
        { name: 'deny-secrets', match: { resources: ['secrets'] }, action: 'deny', message: 'no secrets' },
        { name: 'allow-get', match: { verbs: ['get'] }, action: 'allow' },
        { name: 'never', match: { verbs: ['get'] }, action: 'deny' },
      ],
    }));
    const a = e.decide(req());
    expect(a).toMatchObject({ action: 'allow', matched: { policy: 'p', rule: 'allow-get' } });
    expect(a.audits).toEqual([{ policy: 'p', rule: 'watch-audit', message: 'saw a get', explanations: [] }]);
    const d = e.decide(req({ resource: 'secrets' })) as Extract<Decision, { action: 'deny' }>;
    expect(d.action).toBe('deny');
    expect(d.reason).toContain('no secrets');
    expect(d.audits).toHaveLength(1);
    const def = e.decide(req({ verb: 'create' })) as Extract<Decision, { action: 'deny' }>;
    expect(def.matched).toEqual({ policy: 'p', rule: 'defaultAction' });
    expect(def.reason).toContain('create pods in namespace team-a');
  });

  it('defaultAction audit allows and records; hold uses spec.approvals', async () => {
    const e = await engineWith(
      policy('a', { agents: { users: ['agent-ci'] }, defaultAction: 'audit' }),
    );
    const d = e.decide(req());
    expect(d.action).toBe('allow');
    expect(d.audits[0]).toMatchObject({ policy: 'a', rule: 'defaultAction' });
    const h = await engineWith(policy('h', { agents: { users: ['agent-ci'] }, defaultAction: 'hold', approvals: { approvers: { groups: ['ops'] }, ttl: '30m' } }));
    const hd = h.decide(req());
    expect(hd).toMatchObject({ action: 'hold', hold: { required: 1, ttl: '30m', mode: 'async', uses: 1, inlineTimeout: '25s', approvers: { users: [], groups: ['ops'] } } });
  });

  it('matches resources with subresources like RBAC: pods, pods/exec, pods/*, */status, *', async () => {
    const mk = (resources: string[]) => engineWith(policy('p', { agents: { users: ['agent-ci'] }, rules: [{ name: 'r', match: { resources }, action: 'allow' }] }));
    const cases: [string[], string, string | undefined, boolean][] = [
      [['pods'], 'pods', undefined, true],
      [['pods'], 'pods', 'exec', false],
      [['pods/exec'], 'pods', 'exec', true],
      [['pods/exec'], 'pods', 'attach', false],
      [['pods/*'], 'pods', 'log', true],
      [['pods/*'], 'pods', undefined, false],
      [['*/status'], 'deployments', 'status', true],
      [['*/status'], 'deployments', undefined, false],
      [['*'], 'pods', 'exec', true],
    ];
    for (const [resources, resource, subresource, allowed] of cases) {
      const e = await mk(resources);
      expect([resources, resource, subresource, e.decide(req({ resource, ...(subresource ? { subresource } : {}) })).action])
        .toEqual([resources, resource, subresource, allowed ? 'allow' : 'deny']);
    }
  });

  it('treats update and patch as the same verb', async () => {
    const e = await engineWith(policy('p', { agents: { users: ['agent-ci'] }, defaultAction: 'allow', rules: [{ name: 'no-upd', match: { verbs: ['update'] }, action: 'deny' }] }));
    expect(e.decide(req({ verb: 'patch' })).action).toBe('deny');
    expect(e.decide(req({ verb: 'update' })).action).toBe('deny');
    expect(e.decide(req({ verb: 'get' })).action).toBe('allow');
  });

  it('matches apiGroups, namespaces, names, via', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] },
      rules: [{ name: 'r', match: { apiGroups: ['apps'], namespaces: ['team-*'], names: ['web-*'], via: ['webhook'] }, action: 'allow' }],
    }));
    const base = { apiGroup: 'apps', resource: 'deployments', namespace: 'team-a', name: 'web-1', via: 'webhook' as const };
    expect(e.decide(req(base)).action).toBe('allow');
    expect(e.decide(req({ ...base, apiGroup: '' })).action).toBe('deny');
    expect(e.decide(req({ ...base, namespace: 'prod' })).action).toBe('deny');
    expect(e.decide(req({ ...base, name: 'db' })).action).toBe('deny');
    expect(e.decide(req({ ...base, via: 'proxy' })).action).toBe('deny');
    expect(e.decide(req({ ...base, via: 'test' })).action).toBe('allow');
    // the name of a create comes from the object
    expect(e.decide(req({ ...base, name: undefined, verb: 'create', object: { metadata: { name: 'web-2' } } })).action).toBe('allow');
  });

  it('labelSelector uses the object (oldObject for delete); unknown labels match only restrictive rules', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] }, defaultAction: 'allow',
      rules: [{ name: 'protected', match: { labelSelector: { matchLabels: { protected: 'true' } } }, action: 'deny' }],
    }));
    const obj = (labels: Record<string, string>) => ({ metadata: { name: 'x', labels } });
    expect(e.decide(req({ verb: 'update', object: obj({ protected: 'true' }) })).action).toBe('deny');
    expect(e.decide(req({ verb: 'update', object: obj({}) })).action).toBe('allow');
    expect(e.decide(req({ verb: 'delete', oldObject: obj({ protected: 'true' }) })).action).toBe('deny');
    expect(e.decide(req({ verb: 'delete' })).action).toBe('deny'); // unknown: restrictive rule applies
    const allowSel = await engineWith(policy('q', {
      agents: { users: ['agent-ci'] },
      rules: [{ name: 'mine', match: { labelSelector: { matchExpressions: [{ key: 'owner', operator: 'In', values: ['agent'] }] } }, action: 'allow' }],
    }));
    expect(allowSel.decide(req({ verb: 'delete' })).action).toBe('deny'); // unknown: allow rule does not apply
    expect(allowSel.decide(req({ verb: 'delete', oldObject: obj({ owner: 'agent' }) })).action).toBe('allow');
    // Lists (deletecollection): deny if any item matches, allow only if all do
    const list = (...ls: Record<string, string>[]) => ({ kind: 'List', items: ls.map(obj) });
    expect(e.decide(req({ verb: 'deletecollection', oldObject: list({}, { protected: 'true' }) })).action).toBe('deny');
    expect(e.decide(req({ verb: 'deletecollection', oldObject: list({}, {}) })).action).toBe('allow');
    expect(allowSel.decide(req({ verb: 'deletecollection', oldObject: list({ owner: 'agent' }, {}) })).action).toBe('deny');
    expect(allowSel.decide(req({ verb: 'deletecollection', oldObject: list({ owner: 'agent' }, { owner: 'agent' }) })).action).toBe('allow');
  });

  it('namespaceSelector uses namespaceLabels', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] }, defaultAction: 'allow',
      rules: [{ name: 'prod', match: { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In', values: ['production'] }] } }, action: 'hold', hold: { approvers: { users: ['alice'] } } }],
    }));
    expect(e.decide(req({ namespaceLabels: { env: 'production' } })).action).toBe('hold');
    expect(e.decide(req({ namespaceLabels: { env: 'dev' } })).action).toBe('allow');
    expect(e.decide(req({})).action).toBe('hold');
  });

  it('detectors gate a rule and their explanations name the field', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] }, defaultAction: 'allow',
      rules: [{ name: 'priv', detectors: ['privileged', 'hostNetwork'], action: 'deny' }],
    }));
    const d = e.decide(req({ verb: 'create', object: pod({ hostNetwork: true, containers: [{ name: 'a', image: 'x', securityContext: { privileged: true } }] }) }));
    expect(d.action).toBe('deny');
    expect(d.explanations.map((x) => `${x.detector} ${x.path}`).sort()).toEqual(['hostNetwork spec.hostNetwork', 'privileged spec.containers[0].securityContext.privileged']);
    expect((d as { reason: string }).reason).toContain('spec.containers[0].securityContext.privileged');
    expect(e.decide(req({ verb: 'create', object: pod({ containers: [{ name: 'a', image: 'x' }] }) })).action).toBe('allow');
  });
});

describe('non-resource requests', () => {
  it('allows discovery and health reads; everything else follows nonResourceURLs rules or defaultAction', async () => {
    const e = await engineWith(policy('p', {
      agents: { users: ['agent-ci'] },
      rules: [{ name: 'metrics', match: { nonResourceURLs: ['/metrics'], verbs: ['get'] }, action: 'allow' }, { name: 'pods', match: { resources: ['*'] }, action: 'allow' }],
    }));
    const nr = (path: string, verb = 'get') => e.decide(req({ isResourceRequest: false, path, verb, resource: '', namespace: undefined }));
    for (const p of ['/api', '/apis', '/apis/apps/v1', '/openapi/v3', '/openapi/v3/apis/apps/v1', '/version', '/healthz', '/readyz', '/livez', '/api/v1']) {
      expect([p, nr(p).action, nr(p).matched?.rule]).toEqual([p, 'allow', 'discovery']);
    }
    expect(nr('/metrics')).toMatchObject({ action: 'allow', matched: { rule: 'metrics' } });
    expect(nr('/metrics', 'post').action).toBe('deny');
    for (const p of ['/logs/kube-apiserver.log', '/debug/pprof', '/apis/../metrics', '/apis//x', '/healthz/%2e%2e', '/configz']) expect([p, nr(p).action]).toEqual([p, 'deny']);
    expect(nr('/healthz', 'post').action).toBe('deny');
  });
});

describe('combination across policies', () => {
  const p = (name: string, action: 'allow' | 'deny' | 'hold' | 'mutate', extra: Record<string, unknown> = {}) =>
    policy(name, { agents: { groups: ['airlock:agents'] }, rules: [{ name: `${name}-rule`, action, ...extra }] });
  const hold = (required: number) => ({ hold: { approvers: { groups: ['ops'] }, required } });
  const mutate = (v: string) => ({ mutate: { patch: [{ op: 'add', path: `/metadata/labels/${v}`, value: v }] } });

  it('deny > hold > mutate > allow', async () => {
    expect((await engineWith(p('a', 'allow'), p('b', 'hold', hold(1)), p('c', 'deny'), p('d', 'mutate', mutate('x')))).decide(req()).action).toBe('deny');
    expect((await engineWith(p('a', 'allow'), p('b', 'hold', hold(1)), p('d', 'mutate', mutate('x')))).decide(req()).action).toBe('hold');
    expect((await engineWith(p('a', 'allow'), p('d', 'mutate', mutate('x')))).decide(req()).action).toBe('mutate');
  });

  it('concatenates mutate patches in policy-name order', async () => {
    const d = (await engineWith(p('zeta', 'mutate', mutate('z')), p('alpha', 'mutate', mutate('a')), p('mid', 'allow'))).decide(req({ verb: 'create' }));
    expect(d.action).toBe('mutate');
    expect(d.action === 'mutate' && d.patch.map((x) => x.value)).toEqual(['a', 'z']);
    expect(d.policies).toEqual(['alpha', 'mid', 'zeta']);
  });

  it('picks the strictest hold', async () => {
    const d = (await engineWith(p('a', 'hold', hold(1)), p('b', 'hold', hold(3)))).decide(req());
    expect(d).toMatchObject({ action: 'hold', matched: { policy: 'b' }, hold: { required: 3 } });
  });

  it('merges masking to the strictest and enables recording if any policy does', async () => {
    const e = await engineWith(
      policy('a', { agents: { users: ['agent-ci'] }, rules: [allowAll], masking: { secrets: false, configMaps: false, logs: false, envNamePatterns: ['PASSWORD'] }, recording: { enabled: false } }),
      policy('b', { agents: { users: ['agent-ci'] }, rules: [allowAll], masking: { secrets: false, configMaps: true, logs: false, envNamePatterns: ['(?i)token', 'PASSWORD'], patterns: ['AKIA[0-9A-Z]{16}'] }, recording: { bodies: true } }),
    );
    const d = e.decide(req());
    expect(d.masking).toMatchObject({ secrets: false, configMaps: true, logs: false });
    expect(d.masking!.envNamePatterns.map(String).sort()).toEqual(['/PASSWORD/', '/token/i']);
    expect(d.masking!.patterns.map(String)).toEqual(['/AKIA[0-9A-Z]{16}/']);
    // Reads are refused while recording is unavailable if any policy says so (Fail is the default).
    expect(d.recording).toEqual({ enabled: true, bodies: true, readFailurePolicy: 'Fail' });
    expect(e.maskingFor(agent)?.configMaps).toBe(true);
  });
});

describe('failure handling', () => {
  it('an invalid policy denies every request of the identities it names (fail closed)', async () => {
    const e = new Engine({ metrics: false, now: () => new Date('2026-01-02T03:04:05Z') });
    await e.upsert(policy('good', { agents: { users: ['agent-ci'] }, defaultAction: 'allow' }));
    const r = await e.upsert(policy('bad', { agents: { groups: ['airlock:agents'] }, rules: [{ name: 'x', detectors: ['privilegd'], action: 'deny' }] }));
    expect(r.ok).toBe(false);
    const d = e.decide(req());
    expect(d).toMatchObject({ action: 'deny', matched: { policy: 'bad', rule: 'invalid' } });
    expect((d as { reason: string }).reason).toContain('is invalid');
    expect((d as { reason: string }).reason).toContain('unknown detector "privilegd"');
    // even discovery is denied while the policy is broken, and other identities are unaffected
    expect(e.decide(req({ isResourceRequest: false, path: '/api' })).action).toBe('deny');
    expect(e.decide(req({ user: { username: 'bob', groups: [] } }))).toMatchObject({ action: 'allow', agent: false });
    expect(e.list().find((p) => p.name === 'bad')).toMatchObject({ valid: false, rules: 0, loadedAt: new Date('2026-01-02T03:04:05Z') });
    // fixing the policy restores service; removing it too
    await e.upsert(policy('bad', { agents: { groups: ['airlock:agents'] }, defaultAction: 'allow' }));
    expect(e.decide(req()).action).toBe('allow');
    e.remove('bad');
    expect(e.policiesFor(agent)).toEqual(['good']);
  });

  it('a schema-invalid policy still fails closed for the identities it names', async () => {
    const e = new Engine({ metrics: false });
    const bad = policy('bad', { agents: { users: ['agent-ci'] }, defaultAction: 'maybe' as never });
    const r = await e.upsert(bad);
    expect(r.errors).toContain('spec.defaultAction: must be one of allow, deny, hold, audit');
    expect(e.decide(req())).toMatchObject({ action: 'deny', matched: { rule: 'invalid' } });
  });

  it('decide never throws on malformed input', async () => {
    const e = await engineWith(policy('p', { agents: { users: ['agent-ci'] }, rules: [{ name: 'd', detectors: ['privileged', 'rbacEscalation'], action: 'deny' }, allowAll] }));
    const garbage: unknown[] = [undefined, null, {}, { user: null }, { user: { username: 5 } }, { user: agent }, { user: agent, verb: 'create', object: 'x' },
      { user: { username: 'agent-ci', groups: 'x' }, verb: 'create', resource: 'pods', object: { spec: { containers: [null] } } }];
    for (const g of garbage) {
      const d = e.decide(g as never);
      expect(['allow', 'deny']).toContain(d.action);
    }
    expect(e.decide({ user: agent } as never).action).toBe('deny');
  });

  it('a rule that throws denies (failurePolicy deny) or is skipped (failurePolicy allow)', async () => {
    const bomb = { get metadata(): never { throw new Error('boom'); } };
    const mk = async (failurePolicy: 'deny' | 'allow') => engineWith(policy('p', {
      agents: { users: ['agent-ci'] }, failurePolicy,
      rules: [{ name: 'sel', match: { labelSelector: { matchLabels: { a: 'b' } } }, action: 'deny' }, allowAll],
    }));
    const d = (await mk('deny')).decide(req({ verb: 'update', object: bomb as never }));
    expect(d.action).toBe('deny');
    expect((d as { reason: string }).reason).toContain('could not be evaluated');
    const a = (await mk('allow')).decide(req({ verb: 'update', object: bomb as never }));
    expect(a.action).toBe('allow');
    expect(a.audits[0]?.message).toContain('failurePolicy allow');
  });
});

describe('concurrent updates', () => {
  it('only the newest upsert or remove of a name takes effect, even if an older compile finishes later', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const e = new Engine({ metrics: false, loadConfigMap: async () => { await gate; return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]); } });
    const slow = e.upsert(policy('p', {
      agents: { users: ['agent-ci'] }, defaultAction: 'allow',
      rules: [{ name: 'r', rego: { entrypoint: 'x/y', configMapRef: { namespace: 'a', name: 'b' } }, action: 'deny' }],
    }));
    await e.upsert(policy('p', { agents: { users: ['agent-ci'] }, defaultAction: 'deny' }));
    release();
    const r = await slow;
    expect(r.warnings).toContain('superseded by a newer update of the same policy while compiling; not applied');
    expect(r.errors).toEqual(['spec.rules[0].rego: WebAssembly module is not an OPA policy (build it with `opa build -t wasm`)']);
    expect(e.decide(req())).toMatchObject({ action: 'deny', matched: { policy: 'p', rule: 'defaultAction' } });
    e.remove('p');
    expect(e.policiesFor(agent)).toEqual([]);
  });
});

describe('the creator annotation (built in)', () => {
  it('may name only the agent on a new object and may not change on an existing one, via proxy or webhook', async () => {
    const e = await engineWith(policy('p', { agents: { users: ['agent-ci'] }, rules: [allowAll] }));
    const cm = (creator?: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', ...(creator ? { annotations: { 'airlock.dev/agent': creator } } : {}) } });
    const write = (verb: string, object: unknown, oldObject?: unknown, via: 'proxy' | 'webhook' = 'webhook') =>
      e.decide(req({ verb, resource: 'configmaps', via, object: object as never, ...(oldObject ? { oldObject: oldObject as never } : {}) }));
    expect(write('create', cm())).toMatchObject({ action: 'allow' });
    expect(write('create', cm('agent-ci'))).toMatchObject({ action: 'allow' });
    expect(write('create', cm('someone-else'))).toMatchObject({ action: 'deny', matched: { policy: 'airlock', rule: 'provenance' } });
    expect(write('patch', cm('agent-ci'), cm('alice'))).toMatchObject({ action: 'deny', matched: { rule: 'provenance' } });
    expect(write('update', cm(), cm('alice'), 'proxy')).toMatchObject({ action: 'deny', matched: { rule: 'provenance' } });
    expect(write('update', cm('agent-ci'), cm())).toMatchObject({ action: 'deny', matched: { rule: 'provenance' } });
    expect(write('update', cm('alice'), cm('alice'))).toMatchObject({ action: 'allow' });
    // A status write carries the whole object (some status strategies keep annotations); scale does not.
    expect(e.decide(req({ verb: 'update', resource: 'pods', subresource: 'status', object: cm('x') as never, oldObject: cm() as never }))).toMatchObject({ action: 'deny', matched: { rule: 'provenance' } });
    expect(e.decide(req({ verb: 'update', resource: 'deployments', apiGroup: 'apps', subresource: 'scale', object: { kind: 'Scale', metadata: { name: 'c' } } as never, oldObject: cm('alice') as never }))).toMatchObject({ action: 'allow' });
  });
});
