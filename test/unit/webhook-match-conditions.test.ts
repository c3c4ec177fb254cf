// "Only agents depend on Airlock": the policy webhook's matchCondition, derived from the identities the
// AgentPolicies name. The CEL text is checked here (escaping, shape, limits) and, through a mirror of its
// semantics, against the engine's own agent selection: whatever the engine treats as an agent must be sent.
// test/integration/airlock-down.test.ts runs the same expressions in a real kube-apiserver.
import { describe, expect, it } from '@jest/globals';
import type { AgentPolicy } from '../../src/api/types.js';
import {
  AGENT_CONDITION_NAME, agentCondition, buildWebhookConfiguration, celString, globParts, namedAgents, type NamedAgents,
} from '../../src/operator/webhook-config.js';
import { compilePolicy } from '../../src/policy/compile.js';
import type { UserInfo } from '../../src/policy/types.js';

const pol = (agents: AgentPolicy['spec']['agents'], name = 'p'): AgentPolicy => ({
  apiVersion: 'airlock.dev/v1alpha1', kind: 'AgentPolicy', metadata: { name }, spec: { agents, defaultAction: 'deny' },
});
const base = { caBundle: 'pem', operatorNamespace: 'airlock-system', url: 'https://127.0.0.1:9443' };
type Hook = { name: string; matchConditions?: { name: string; expression: string }[] };
const hooks = (policies: AgentPolicy[], extra: Record<string, unknown> = {}) =>
  (buildWebhookConfiguration({ ...base, ...extra }, policies) as { webhooks: Hook[] }).webhooks;
const policyHook = (policies: AgentPolicy[], extra: Record<string, unknown> = {}) => hooks(policies, extra).find((w) => w.name === 'policy.webhook.airlock.dev');
const agentExpr = (policies: AgentPolicy[]) => policyHook(policies)?.matchConditions?.find((c) => c.name === AGENT_CONDITION_NAME)?.expression;

/** Decodes a CEL string literal as celString writes it (no raw quotes/backslashes inside; \u and \U escapes). */
function decodeCel(lit: string): string {
  expect(lit.startsWith('"') && lit.endsWith('"')).toBe(true);
  const body = lit.slice(1, -1);
  expect(body).toMatch(/^(?:[\x20-\x21\x23-\x5b\x5d-\x7e]|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*$/);
  return body.replace(/\\u([0-9a-f]{4})|\\U([0-9a-f]{8})/g, (_m, a: string | undefined, b: string | undefined) => String.fromCodePoint(parseInt(a ?? b!, 16)));
}

/** What the expression sends, with CEL's semantics (string equality, startsWith/endsWith, list/map membership). */
function sends(a: NamedAgents, u: UserInfo): boolean {
  if (a.everyone) return true;
  const glob = (v: string, gs: [string, string][]) => gs.some(([p, s]) => v.startsWith(p) && v.endsWith(s));
  if (u.username === '' || a.users.includes(u.username) || glob(u.username, a.userGlobs)) return true;
  if (u.groups.some((g) => a.groups.includes(g) || glob(g, a.groupGlobs))) return true;
  return Object.keys(u.extra ?? {}).some((k) => a.extraKeys.includes(k) || glob(k, a.extraKeyGlobs));
}

describe('CEL string literals', () => {
  it('escapes quotes, backslashes, control and non-ASCII characters so nothing can end the literal', () => {
    const hostile = ['a"b', 'a\\b', '" || true || "', '\\" || true || \\"', 'x\ny\r\t\0', 'ünï', 'emoji-😀', "it's", '${x}', '\u2028\u2029', 'a\\u0022b'];
    for (const s of hostile) {
      const lit = celString(s);
      expect(decodeCel(lit)).toBe(s);
    }
    expect(celString('" || true || "')).toBe('"\\u0022 || true || \\u0022"');
    expect(celString('😀')).toBe('"\\U0001f600"');
    expect(() => celString('\ud800')).toThrow(/surrogate/);
  });

  it('hostile names in a policy never break out of the condition', () => {
    const names = ['" || true || "', 'x") || true || ("', 'a\\', 'b"', '\u0000'];
    const expr = agentExpr([pol({ users: names, groups: names })])!;
    // Outside the string literals only the fixed CEL text remains.
    const skeleton = expr.replace(/"(?:[^"\\]|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*"/g, 'S');
    expect(skeleton).toBe('request.userInfo.username == S || request.userInfo.username in [S, S, S, S, S] || '
      + '(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in [S, S, S, S, S]))');
  });
});

describe('which identities the policy webhook is sent', () => {
  it('names users, ServiceAccounts (as system:serviceaccount:NS:NAME) and groups; keeps the controller exemptions', () => {
    const ps = [pol({ users: ['agent-ci'], serviceAccounts: [{ namespace: 'ci', name: 'deployer' }] }, 'a'), pol({ groups: ['airlock:agents'] }, 'b')];
    const hook = policyHook(ps, { exemptUsers: ['airlock'], exemptGroups: ['airlock:controllers'] })!;
    expect(hook.matchConditions!.map((c) => c.name)).toEqual(['not-airlock-controller-user', 'not-airlock-controller-group', AGENT_CONDITION_NAME]);
    expect(hook.matchConditions![2]!.expression).toBe(
      'request.userInfo.username == "" || request.userInfo.username in ["agent-ci", "system:serviceaccount:ci:deployer"] || '
      + '(has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ["airlock:agents"]))',
    );
    // The Approval guard still sees everyone but Airlock itself.
    const guard = hooks(ps, { exemptUsers: ['airlock'], exemptGroups: ['airlock:controllers'] }).find((w) => w.name === 'approvals.webhook.airlock.dev')!;
    expect(guard.matchConditions!.map((c) => c.name)).toEqual(['not-airlock-controller-user', 'not-airlock-controller-group']);
  });

  it('widens globs to prefix and suffix tests, and claims to the extra key', () => {
    const a = namedAgents([pol({ users: ['agent-*', '*-bot', 'a*b*c'], serviceAccounts: [{ namespace: 'ci-*', name: '*' }], groups: ['team:*'], claims: [{ claim: 'team', values: ['infra'] }] })]);
    expect(a.userGlobs).toEqual([['', '-bot'], ['a', 'c'], ['agent-', ''], ['system:serviceaccount:ci-', '']]);
    expect(a.groupGlobs).toEqual([['team:', '']]);
    expect(a.extraKeys).toEqual(['oidc.airlock.dev/team']);
    const expr = agentCondition(a)!.expression;
    expect(expr).toContain('[["", "-bot"], ["a", "c"], ["agent-", ""], ["system:serviceaccount:ci-", ""]].exists(p, request.userInfo.username.startsWith(p[0]) && request.userInfo.username.endsWith(p[1]))');
    expect(expr).toContain('request.userInfo.groups.exists(g, [["team:", ""]].exists(p, g.startsWith(p[0]) && g.endsWith(p[1])))');
    expect(expr).toContain('(has(request.userInfo.extra) && request.userInfo.extra.exists(k, k in ["oidc.airlock.dev/team"]))');
  });

  it('treats U+FFFD and lone surrogates like wildcards (CEL compares raw bytes there)', () => {
    expect(globParts('agent\ufffdci')).toEqual(['agent', 'ci']);
    expect(globParts('a\ud800b')).toEqual(['a', 'b']);
    expect(globParts('emoji-😀')).toBeUndefined(); // a proper surrogate pair is an exact name
    expect(() => agentCondition(namedAgents([pol({ users: ['a\udc00b'] })]))).not.toThrow();
  });

  it('a policy naming everyone (users or groups "*") sends everyone: no identity condition', () => {
    expect(agentCondition(namedAgents([pol({ users: ['*'] })]))).toBeUndefined();
    expect(agentCondition(namedAgents([pol({ users: ['x'] }), pol({ groups: ['*'] }, 'q')]))).toBeUndefined();
    const hook = policyHook([pol({ users: ['*'] })])!;
    expect(hook.matchConditions).toBeUndefined();
  });

  it('no policy, or none that names anyone: only the Approval guard is registered', () => {
    expect(hooks([]).map((w) => w.name)).toEqual(['approvals.webhook.airlock.dev']);
    expect(hooks([pol({})]).map((w) => w.name)).toEqual(['approvals.webhook.airlock.dev']);
    expect(hooks([pol({ users: 'agent-ci' as unknown as string[] })]).map((w) => w.name)).toEqual(['approvals.webhook.airlock.dev']);
  });

  it('many names stay one expression with list membership; too many to fit send everyone instead of fewer', () => {
    const many = Array.from({ length: 2000 }, (_, i) => `agent-${i}`);
    const c = agentCondition(namedAgents([pol({ users: many, groups: many.slice(0, 500) })]))!;
    expect(c.expression.length).toBeLessThan(60_000);
    expect(c.expression.match(/ in \[/g)).toHaveLength(2);
    const huge = Array.from({ length: 10_000 }, (_, i) => `agent-with-a-long-name-${i}`);
    expect(agentCondition(namedAgents([pol({ users: huge })]))).toBeUndefined();
    expect(policyHook([pol({ users: huge })])!.matchConditions).toBeUndefined();
  });

  it('policy changes change the registration (the syncer re-applies on a different configuration)', () => {
    const before = JSON.stringify(buildWebhookConfiguration(base, [pol({ users: ['a'] })]));
    const after = JSON.stringify(buildWebhookConfiguration(base, [pol({ users: ['a', 'b'] })]));
    expect(after).not.toBe(before);
  });
});

describe('nothing the engine treats as an agent escapes the condition', () => {
  // A seeded generator of adversarial names: case changes, prefixes, unicode look-alikes, empty strings.
  let seed = 42;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const atoms = ['agent', 'Agent', 'AGENT', '-', ':', 'ci', 'ç', 'i̇', '\u00a0', '\u200b', '😀', '"', '\\', 'system', 'serviceaccount', 'ns', 'x', ''];
  const word = (): string => Array.from({ length: 1 + rnd(4) }, () => atoms[rnd(atoms.length)]).join('');
  const pattern = (): string => {
    const w = word();
    const r = rnd(5);
    return r === 0 ? `${w}*` : r === 1 ? `*${w}` : r === 2 ? `${w}*${word()}` : w;
  };

  it('2,000 random policies and identities: engine-selected ⇒ sent', async () => {
    let selected = 0;
    for (let i = 0; i < 2000; i++) {
      const agents = {
        users: rnd(2) ? [pattern(), pattern()].filter(Boolean) : undefined,
        groups: rnd(2) ? [pattern()].filter(Boolean) : undefined,
        serviceAccounts: rnd(3) === 0 ? [{ namespace: pattern() || 'ns', name: pattern() || 'x' }] : undefined,
        claims: rnd(4) === 0 ? [{ claim: word() || 'team', values: [pattern() || 'v'] }] : undefined,
      };
      const p = pol(agents, `p${i}`);
      const { compiled } = await compilePolicy(p);
      const a = namedAgents([p]);
      const saName = agents.serviceAccounts ? `system:serviceaccount:${agents.serviceAccounts[0]!.namespace.replace(/\*/g, word())}:${agents.serviceAccounts[0]!.name.replace(/\*/g, word())}` : word();
      const candidates: UserInfo[] = [
        { username: (agents.users?.[0] ?? word()).replace(/\*/g, word()), groups: [] },
        { username: word() || 'u', groups: [(agents.groups?.[0] ?? word()).replace(/\*/g, word()), 'system:authenticated'] },
        { username: saName, groups: ['system:serviceaccounts'] },
        { username: word() || 'u', groups: [], extra: agents.claims ? { [`oidc.airlock.dev/${agents.claims[0]!.claim}`]: [agents.claims[0]!.values[0]!.replace(/\*/g, '')] } : {} },
        { username: (agents.users?.[0] ?? 'x').toUpperCase(), groups: [''] },
      ];
      for (const u of candidates) {
        if (!compiled!.selectsUser(u)) continue;
        selected++;
        if (!sends(a, u)) throw new Error(`escaped: ${JSON.stringify({ agents, u, a })}`);
      }
    }
    expect(selected).toBeGreaterThan(500);
  });
});
