// upsert() validation: schema errors and semantic checks, each message naming the field.
import { describe, expect, it } from '@jest/globals';
import { Engine } from '../../../src/policy/engine.js';
import type { Rule } from '../../../src/api/types.js';
import { policy, req } from './helpers.js';

const agents = { users: ['agent-ci'] };
const compile = (rules: Rule[], extra: Record<string, unknown> = {}) => new Engine({ metrics: false }).upsert(policy('p', { agents, rules, ...extra }));

describe('upsert validation', () => {
  it('accepts a valid policy with no errors', async () => {
    const r = await compile([{ name: 'a', match: { verbs: ['get'], resources: ['pods', 'pods/*'] }, action: 'allow' }]);
    expect(r).toEqual({ ok: true, errors: [], warnings: [] });
  });

  const cases: [string, Rule[], Record<string, unknown>, string][] = [
    ['unknown detector with a suggestion', [{ name: 'a', action: 'deny' }, { name: 'b', detectors: ['hostPID', 'privilegd'], action: 'deny' }], {},
      'spec.rules[1].detectors[1]: unknown detector "privilegd" (did you mean "privileged"?)'],
    ['bad regex', [], { masking: { envNamePatterns: ['ok', '(unclosed'] } }, 'spec.masking.envNamePatterns[1]: invalid regular expression'],
    ['bad glob', [{ name: 'a', match: { namespaces: ['team-?'] }, action: 'allow' }], {}, 'spec.rules[0].match.namespaces[0]: unsupported glob syntax in "team-?"'],
    ['double star glob', [{ name: 'a', match: { names: ['**'] }, action: 'allow' }], {}, 'spec.rules[0].match.names[0]: unsupported glob "**"'],
    ['hold without approvers', [{ name: 'a', action: 'hold' }], {}, 'spec.rules[0].hold: hold needs approvers'],
    ['unsatisfiable hold', [{ name: 'a', action: 'hold', hold: { approvers: { users: ['alice'] }, required: 2 } }], {}, 'spec.rules[0].hold.required: 2 distinct approvers required but only 1 listed'],
    ['defaultAction hold without approvers', [], { defaultAction: 'hold' }, 'spec.approvals: hold needs approvers'],
    ['mutate path not a JSON pointer', [{ name: 'a', action: 'mutate', mutate: { patch: [{ op: 'add', path: 'metadata/labels/x', value: 'y' }] } }], {},
      'spec.rules[0].mutate.patch[0].path: "metadata/labels/x" is not a JSON pointer'],
    ['mutate of the name', [{ name: 'a', action: 'mutate', mutate: { patch: [{ op: 'replace', path: '/metadata/name', value: 'y' }] } }], {},
      'spec.rules[0].mutate.patch[0].path: /metadata/name cannot be changed'],
    ['mutate move without from', [{ name: 'a', action: 'mutate', mutate: { patch: [{ op: 'move', path: '/spec/x' }] } }], {}, 'spec.rules[0].mutate.patch[0].from'],
    ['mutate add without value', [{ name: 'a', action: 'mutate', mutate: { patch: [{ op: 'add', path: '/spec/x' }] } }], {}, 'spec.rules[0].mutate.patch[0].value: add needs a value'],
    ['mutate missing', [{ name: 'a', action: 'mutate' }], {}, 'spec.rules[0].mutate: required for action mutate'],
    ['hold settings on allow', [{ name: 'a', action: 'allow', hold: { approvers: { users: ['x'] } } }], {}, 'spec.rules[0].hold: only allowed for action hold'],
    ['duplicate rule names', [{ name: 'a', action: 'allow', match: { verbs: ['get'] } }, { name: 'a', action: 'deny' }], {}, 'spec.rules[1].name: duplicate rule name "a"'],
    ['schema enum', [{ name: 'a', action: 'block' as never }], {}, 'spec.rules[0].action: must be one of allow, deny, hold, mutate, audit'],
    ['schema rule name', [{ name: 'Not_Valid', action: 'allow' }], {}, 'spec.rules[0].name: must match pattern'],
    ['bad label selector', [{ name: 'a', match: { labelSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }, action: 'deny' }], {},
      'spec.rules[0].match.labelSelector.matchExpressions[0].values: must be non-empty for In'],
    ['nonResourceURLs mixed with resources', [{ name: 'a', match: { nonResourceURLs: ['/metrics'], resources: ['pods'] }, action: 'allow' }], {},
      'spec.rules[0].match.nonResourceURLs: cannot be combined'],
    ['nonResourceURLs not a path', [{ name: 'a', match: { nonResourceURLs: ['metrics'] }, action: 'allow' }], {}, 'spec.rules[0].match.nonResourceURLs[0]: must start with "/"'],
    ['command pattern with an unbalanced quote', [{ name: 'a', match: { commands: ['ls', "cat '/app"] }, action: 'allow' }], {}, 'spec.rules[0].match.commands[1]: '],
    ['command patterns on a resource that carries no command', [{ name: 'a', match: { resources: ['pods/attach'], commands: ['ls'] }, action: 'allow' }], {},
      'spec.rules[0].match.commands: only pods/exec requests carry a command'],
    ['command patterns with nonResourceURLs', [{ name: 'a', match: { nonResourceURLs: ['/x'], commands: ['ls'] }, action: 'allow' }], {}, 'spec.rules[0].match.commands: cannot be combined with nonResourceURLs'],
    ['rego that is not wasm', [{ name: 'a', rego: { entrypoint: 'airlock/deny', wasmBase64: Buffer.from('package x').toString('base64') }, action: 'deny' }], {},
      'spec.rules[0].rego: not a WebAssembly module'],
    ['rego from a ConfigMap without a loader', [{ name: 'a', rego: { entrypoint: 'airlock/deny', configMapRef: { namespace: 'a', name: 'b' } }, action: 'deny' }], {},
      'spec.rules[0].rego: cannot load ConfigMap a/b'],
  ];
  it.each(cases)('%s', async (_what, rules, extra, message) => {
    const r = await compile(rules, extra);
    expect(r.ok).toBe(false);
    expect(r.errors.some((e) => e.startsWith(message) || e.includes(message))).toBe(true);
  });

  it('requires a name and agents', async () => {
    const e = new Engine({ metrics: false });
    expect(await e.upsert({ apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: {}, spec: { agents: agents } })).toMatchObject({ ok: false, errors: ['metadata.name: is required'] });
    const r = await e.upsert(policy('p', { agents: {} }));
    expect(r.errors).toContain('spec.agents: must name at least one of users, groups, serviceAccounts or claims');
    const r2 = await e.upsert({ apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name: 'x' } } as never);
    expect(r2.errors).toContain('spec: is required');
  });

  it('warns about unreachable rules, unknown verbs, defaultAction allow and "*" agents', async () => {
    const r = await new Engine({ metrics: false }).upsert(policy('p', {
      agents: { users: ['*'] }, defaultAction: 'allow',
      rules: [{ name: 'all', action: 'deny' }, { name: 'later', match: { verbs: ['gett'] }, action: 'allow' }],
    }));
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual(expect.arrayContaining([
      'spec.rules[1]: unreachable: rule "all" before it matches every request',
      'spec.rules[1].match.verbs[0]: unknown verb "gett"',
      'spec.defaultAction: allow lets agents do anything no rule denies; prefer deny with an allow-list',
    ]));
    expect(r.warnings.some((w) => w.startsWith('spec.agents: "*"'))).toBe(true);
  });

  it('loads every example policy without errors', async () => {
    const { loadPolicies } = await import('../../../src/policy/offline.js');
    const { results } = await loadPolicies([new URL('../../../examples', import.meta.url).pathname]);
    expect(results.map((r) => r.name).sort()).toEqual(['default-agent-policy', 'strict-production-policy']);
    for (const r of results) expect([r.name, r.result.errors, r.result.warnings]).toEqual([r.name, [], []]);
  });
});

describe('command patterns in rules', () => {
  const exec = (command: string[], extra: Record<string, unknown> = {}) => ({
    user: { username: 'agent-ci', groups: [] }, verb: 'create', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'exec',
    namespace: 'a', name: 'p', via: 'proxy' as const, exec: { kind: 'exec' as const, command, interactive: false }, ...extra,
  });
  it('a rule with commands matches only pods/exec requests whose argv matches', async () => {
    const e = new Engine({ metrics: false });
    expect((await e.upsert(policy('p', { agents, defaultAction: 'deny', rules: [{ name: 'debug', match: { commands: ['cat /app/*', 'ls ...'] }, action: 'allow' }] }))).ok).toBe(true);
    expect(e.decide(exec(['cat', '/app/a.yaml'])).action).toBe('allow');
    expect(e.decide(exec(['ls', '-la', '/tmp'])).action).toBe('allow');
    expect(e.decide(exec(['cat', '/etc/passwd'])).action).toBe('deny');
    expect(e.decide(exec(['cat', '/app/../etc/passwd'])).action).toBe('deny');
    // Not an exec: a pattern never widens anything else.
    expect(e.decide({ ...exec([]), subresource: 'attach', exec: { kind: 'attach', command: [], interactive: false } }).action).toBe('deny');
    expect(e.decide({ ...exec([]), subresource: undefined, exec: undefined, verb: 'get' }).action).toBe('deny');
  });
});

describe('unknown fields', () => {
  it('are errors naming the field (the API server would prune them and widen the rule)', async () => {
    const e = new Engine({ metrics: false });
    const p = policy('typo', { agents: { users: ['agent-ci'] }, rules: [{ name: 'r', match: { resourcs: ['secrets'] } as never, action: 'allow' }], budgets: [{ name: 'b', match: {}, limit: 1, window: '1m', onExhausted: 'deny', widow: '1h' } as never] });
    const r = await e.upsert(p);
    expect(r.errors).toEqual(expect.arrayContaining(['spec.rules[0].match.resourcs: unknown field', 'spec.budgets[0].widow: unknown field']));
    expect(e.decide(req({ verb: 'get', resource: 'secrets' }))).toMatchObject({ action: 'deny', matched: { rule: 'invalid' } });
  });
});
