import { describe, expect, it } from '@jest/globals';
import { requestDiff, requestObjectYaml } from '../../../src/approvals/render.js';
import type { RequestAttributes } from '../../../src/policy/types.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const secret = (password: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'prod' },
  data: { password: b64(password), user: b64('app') },
});
const req = (over: Partial<RequestAttributes>): RequestAttributes => ({
  user: { username: 'agent-ci', groups: [] },
  verb: 'update',
  isResourceRequest: true,
  apiGroup: '',
  apiVersion: 'v1',
  resource: 'secrets',
  namespace: 'prod',
  name: 'db',
  via: 'webhook',
  ...over,
});

describe('what an Approval shows', () => {
  it('never contains Secret values, but shows which keys change', () => {
    const r = req({ oldObject: secret('old-hunter2'), object: secret('new-hunter2') });
    const diff = requestDiff(r);
    const object = requestObjectYaml(r);
    for (const text of [diff, object]) {
      expect(text).not.toContain(b64('old-hunter2'));
      expect(text).not.toContain(b64('new-hunter2'));
      expect(text).toContain('(redacted sha256:');
    }
    expect(diff).toMatch(/^-\s+password: '?\(redacted sha256:[0-9a-f]{8}\)/m);
    expect(diff).toMatch(/^\+\s+password: '?\(redacted sha256:[0-9a-f]{8}\)/m);
    expect(diff).not.toMatch(/^[-+]\s+user:/m); // unchanged value: same redaction, no diff line
  });

  it('leaves other kinds as they are', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'prod' }, data: { mode: 'fast' } };
    expect(requestObjectYaml(req({ resource: 'configmaps', verb: 'create', object: cm }))).toContain('mode: fast');
  });
});
