// SubjectAccessReviewChecker against a fake client: the reviews it asks, caching with a TTL, the size bound,
// and failures (never cached, never guessed).
import { describe, expect, it } from '@jest/globals';
import { SubjectAccessReviewChecker } from '../../../src/operator/service-account-checker.js';

type Body = { spec: { user: string; groups: string[]; resourceAttributes: Record<string, string> } };

function fakeClient(allowed: (attrs: Record<string, string>) => boolean | Error | 'nostatus') {
  const asked: Body[] = [];
  return {
    asked,
    async create<T>(path: string, body: unknown): Promise<T> {
      expect(path).toBe('/apis/authorization.k8s.io/v1/subjectaccessreviews');
      const b = body as Body;
      asked.push(b);
      const a = allowed(b.spec.resourceAttributes);
      if (a instanceof Error) throw a;
      return (a === 'nostatus' ? {} : { status: { allowed: a } }) as T;
    },
  };
}

const perms = [
  { verb: '*', group: '*', resource: '*', namespace: '*' },
  { verb: 'create', resource: 'pods', subresource: 'exec' },
  { verb: 'create', resource: 'pods', namespace: 'kube-system' },
];

describe('SubjectAccessReviewChecker', () => {
  it('asks as the ServiceAccount with its groups, mapping same/*/named namespaces', async () => {
    const client = fakeClient((a) => a.subresource === 'exec');
    const checker = new SubjectAccessReviewChecker({ client });
    await expect(checker.check('team-a', 'web', perms)).resolves.toEqual(['create pods/exec in same']);
    expect(client.asked.map((b) => b.spec.user)).toEqual(Array(3).fill('system:serviceaccount:team-a:web'));
    expect(client.asked[0]!.spec.groups).toEqual(['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
    expect(client.asked.map((b) => b.spec.resourceAttributes)).toEqual([
      { verb: '*', group: '*', resource: '*' },
      { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: 'team-a' },
      { verb: 'create', group: '', resource: 'pods', namespace: 'kube-system' },
    ]);
  });

  it('reuses answers within the TTL and asks again after it', async () => {
    let now = 1000;
    const client = fakeClient(() => false);
    const checker = new SubjectAccessReviewChecker({ client, ttlMs: 30_000, now: () => now });
    await checker.check('a', 'sa', perms);
    await Promise.all([checker.check('a', 'sa', perms), checker.check('a', 'sa', perms)]);
    expect(client.asked).toHaveLength(3);
    now += 30_001;
    await checker.check('a', 'sa', perms);
    expect(client.asked).toHaveLength(6);
  });

  it('keeps at most maxEntries answers', async () => {
    const client = fakeClient(() => true);
    const checker = new SubjectAccessReviewChecker({ client, maxEntries: 2 });
    await checker.check('a', 'one', perms.slice(0, 2));
    await checker.check('a', 'two', perms.slice(0, 2)); // evicts both answers of "one"
    await checker.check('a', 'one', perms.slice(0, 1));
    expect(client.asked).toHaveLength(5);
  });

  it('rejects on errors and answers without status, and does not remember failures', async () => {
    let fail = true;
    const client = fakeClient(() => (fail ? new Error('connection refused') : true));
    const checker = new SubjectAccessReviewChecker({ client });
    await expect(checker.check('a', 'sa', perms.slice(0, 1))).rejects.toThrow('connection refused');
    fail = false;
    await expect(checker.check('a', 'sa', perms.slice(0, 1))).resolves.toEqual(['* *.* in *']);
    const empty = new SubjectAccessReviewChecker({ client: fakeClient(() => 'nostatus') });
    await expect(empty.check('a', 'sa', perms.slice(0, 1))).rejects.toThrow('no status.allowed');
  });
});
