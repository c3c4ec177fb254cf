import { describe, expect, it } from '@jest/globals';
import { adoptionScope, enrichAdoptions, orphansOf, selectorString } from '../../../src/policy/adoption.js';
import type { RequestAttributes } from '../../../src/policy/types.js';

const user = { username: 'agent-ci', groups: [] };
const write = (apiGroup: string, resource: string, spec: Record<string, unknown>, verb = 'create'): RequestAttributes => ({
  user, verb, apiGroup, apiVersion: 'v1', resource, namespace: 'team a', isResourceRequest: true, object: { spec }, via: 'proxy',
});

describe('adoption', () => {
  it('turns label selectors (and a ReplicationController map) into selector strings', () => {
    expect(selectorString({ matchLabels: { app: 'x', tier: 'web' } })).toBe('app=x,tier=web');
    expect(selectorString({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }, { key: 'b', operator: 'NotIn', values: ['3'] }, { key: 'c', operator: 'Exists' }, { key: 'd', operator: 'DoesNotExist' }] }))
      .toBe('a in (1,2),b notin (3),c,!d');
    expect(selectorString({ app: 'x' })).toBe('app=x');
    expect(selectorString({ matchLabels: {} })).toBe(''); // matches everything: everything is listed
    expect(selectorString({ matchExpressions: [{ key: 'a', operator: 'Gt' }] })).toBeUndefined();
    expect(selectorString('app=x')).toBeUndefined();
  });

  it('knows which writes adopt what', () => {
    expect(adoptionScope(write('apps', 'replicasets', { selector: { matchLabels: { app: 'x' } } }))).toEqual({ path: '/api/v1/namespaces/team%20a/pods', labelSelector: 'app=x' });
    expect(adoptionScope(write('apps', 'deployments', { selector: { matchLabels: { app: 'x' } } }))!.path).toBe('/apis/apps/v1/namespaces/team%20a/replicasets');
    expect(adoptionScope(write('', 'replicationcontrollers', { selector: { app: 'x' } }))!.labelSelector).toBe('app=x');
    // Without a selector (absent or empty) the API server gives a ReplicationController its template's labels.
    const template = { metadata: { labels: { app: 'victim' } } };
    expect(adoptionScope(write('', 'replicationcontrollers', { template }))!.labelSelector).toBe('app=victim');
    expect(adoptionScope(write('', 'replicationcontrollers', { selector: {}, template }))!.labelSelector).toBe('app=victim');
    for (const r of ['daemonsets', 'statefulsets']) expect(adoptionScope(write('apps', r, { selector: { matchLabels: { a: 'b' } } }))).toBeDefined();
    // A Job adopts only with a manual selector (otherwise its selector is its own controller-uid).
    expect(adoptionScope(write('batch', 'jobs', { selector: { matchLabels: { a: 'b' } } }))).toBeUndefined();
    expect(adoptionScope(write('batch', 'jobs', { manualSelector: true, selector: { matchLabels: { a: 'b' } } }))).toBeDefined();
    expect(adoptionScope(write('apps', 'replicasets', { selector: { matchLabels: { a: 'b' } } }, 'delete'))).toBeUndefined();
    expect(adoptionScope(write('', 'pods', { selector: { matchLabels: { a: 'b' } } }))).toBeUndefined();
  });

  it('lists only objects no controller owns, with their creator', () => {
    expect(orphansOf({ items: [
      { metadata: { name: 'owned', ownerReferences: [{ kind: 'ReplicaSet', controller: true }] } },
      { metadata: { name: 'loose', ownerReferences: [{ kind: 'ConfigMap' }] } },
      { metadata: { name: 'mine', annotations: { 'airlock.dev/agent': 'agent-ci' } } },
    ] })).toEqual([{ name: 'loose' }, { name: 'mine', creator: 'agent-ci' }]);
  });

  it('records a listing failure (the detector holds it) instead of throwing', async () => {
    const a = write('apps', 'replicasets', { selector: { matchLabels: { app: 'x' } } });
    await enrichAdoptions(a, async () => { throw new Error('forbidden'); });
    expect(a.adoptions).toEqual({ error: 'forbidden' });
    const b = write('apps', 'replicasets', { selector: { matchLabels: { app: 'x' } } });
    const asked: string[] = [];
    await enrichAdoptions(b, async (path, sel) => { asked.push(`${path}?${sel}`); return [{ name: 'p' }]; });
    expect(asked).toEqual(['/api/v1/namespaces/team%20a/pods?app=x']);
    expect(b.adoptions).toEqual({ orphans: [{ name: 'p' }] });
  });
});
