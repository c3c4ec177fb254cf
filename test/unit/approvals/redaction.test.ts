import { describe, expect, it } from '@jest/globals';
import { maskingRedactor } from '../../../src/approvals/redact.js';
import { requestDiff, requestObjectYaml } from '../../../src/approvals/render.js';
import type { HoldDecision } from '../../../src/approvals/types.js';
import { createMaskerFactory } from '../../../src/masking/index.js';
import type { RequestAttributes, ResolvedMasking } from '../../../src/policy/types.js';

const RULES: ResolvedMasking = { secrets: true, configMaps: true, logs: true, envNamePatterns: [], patterns: [] };
const decision = (masking: ResolvedMasking | undefined): HoldDecision => ({
  action: 'hold', reason: 'r', agent: true, policies: ['p'], explanations: [], audits: [], ...(masking ? { masking } : {}),
  hold: { required: 1, ttl: '1h', mode: 'async', inlineTimeout: '30s', uses: 1, approvers: { users: [], groups: [] } },
  recording: {} as HoldDecision['recording'],
});
const deployment = (password: string, token: string, replicas: number) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' },
  spec: {
    replicas,
    template: { spec: { containers: [{ name: 'app', image: 'web:1', env: [{ name: 'DB_PASSWORD', value: password }, { name: 'API_TOKEN', value: token }, { name: 'MODE', value: 'fast' }] }] } },
  },
});
const req = (over: Partial<RequestAttributes>): RequestAttributes => ({
  user: { username: 'agent', groups: [] }, verb: 'patch', isResourceRequest: true, apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'proxy', ...over,
});

describe('hole 3: Approvals hide what the masking rules hide from the agent', () => {
  const masker = createMaskerFactory({ key: Buffer.alloc(32, 7) });
  const redactor = maskingRedactor(masker);
  const d = decision(RULES);

  it('masks env values in the object and both sides of the diff; changed values still show as changed', () => {
    const r = req({ oldObject: deployment('old-pw-Secr3t!', 'tok_live_abcdef123456', 1), object: deployment('new-pw-Secr3t!', 'tok_live_abcdef123456', 3) });
    const redact = (o: Record<string, unknown>) => redactor(o, r, d);
    const diff = requestDiff(r, redact);
    const object = requestObjectYaml(r, redact);
    for (const text of [diff, object]) {
      for (const v of ['old-pw-Secr3t!', 'new-pw-Secr3t!', 'tok_live_abcdef123456']) expect(text).not.toContain(v);
      expect(text).toContain('airlock-masked:sha256:');
    }
    expect(object).toContain('value: fast'); // harmless values stay readable
    // The changed password: a removed and an added marker; the unchanged token: no diff line.
    const removed = diff.split('\n').filter((l) => l.startsWith('-') && l.includes('airlock-masked'));
    const added = diff.split('\n').filter((l) => l.startsWith('+') && l.includes('airlock-masked'));
    expect(removed).toHaveLength(1);
    expect(added).toHaveLength(1);
    expect(removed[0]!.slice(1)).not.toBe(added[0]!.slice(1));
    expect(diff).toMatch(/^\+\s+replicas: 3$/m);
  });

  it('does not change the request it redacts (the fingerprint and the forwarded request keep the values)', () => {
    const obj = deployment('pw-Secr3t!', 'tok_live_abcdef123456', 1);
    const r = req({ object: obj });
    requestObjectYaml(r, (o) => redactor(o, r, d));
    expect(JSON.stringify(obj)).toContain('pw-Secr3t!');
  });

  it('uses strict rules when the decision carries none, and keeps the per-key Secret redaction', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'prod' }, data: { password: Buffer.from('hunter2-hunter2').toString('base64') } };
    const r = req({ resource: 'secrets', apiGroup: '', verb: 'create', object: secret });
    const text = requestObjectYaml(r, (o) => redactor(o, r, decision(undefined)));
    expect(text).not.toContain(Buffer.from('hunter2-hunter2').toString('base64'));
    expect(text).toContain('(redacted sha256:');
  });

  it('refuses to work without a masker that masks parsed values', () => {
    expect(() => maskingRedactor({})).toThrow(/maskValue/);
  });
});
