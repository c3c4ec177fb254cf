import { describe, expect, it } from '@jest/globals';
import { fingerprint } from '../../../src/approvals/fingerprint.js';
import { collectionItemsOf, collectionSet, effectOptions } from '../../../src/approvals/effect.js';
import { approvalCollection, approvalOptions, summarise } from '../../../src/approvals/render.js';
import type { CollectionItem, RequestAttributes } from '../../../src/policy/types.js';
import { effectiveOptions } from '../../../src/proxy/request-options.js';
import { parseRequestInfo } from '../../../src/proxy/request-info.js';

const user = { username: 'agent', groups: ['airlock:agents'] };
const items = (...names: string[]): CollectionItem[] => names.map((name) => ({ namespace: 'team', name, uid: `uid-${name}` }));

/** The attributes the proxy builds for a request: coordinates from RequestInfo, options from effectiveOptions. */
function proxied(method: string, url: string, body?: unknown, collectionItems?: CollectionItem[]): RequestAttributes {
  const info = parseRequestInfo(method, url);
  const eff = effectiveOptions({ method, info, ...(body !== undefined ? { body } : {}) });
  return {
    user, verb: info.verb, isResourceRequest: true, apiGroup: info.apiGroup, apiVersion: info.apiVersion, resource: info.resource,
    ...(info.subresource ? { subresource: info.subresource } : {}), ...(info.namespace ? { namespace: info.namespace } : {}), ...(info.name ? { name: info.name } : {}),
    via: 'proxy', ...(eff.dryRun ? { dryRun: true } : {}), ...(Object.keys(eff.options).length ? { options: eff.options } : {}),
    ...(collectionItems ? { collectionItems } : {}),
  };
}
const CM = '/api/v1/namespaces/team/configmaps';

describe('hole 1: a deletecollection is fingerprinted with its selector and the objects it deletes', () => {
  it('an approved selector does not match a retry without (or with another) selector', () => {
    const held = fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('a', 'b', 'c')));
    expect(fingerprint(proxied('DELETE', CM, undefined, items('a', 'b', 'c')))).not.toBe(held);
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dother`, undefined, items('a', 'b', 'c')))).not.toBe(held);
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp&fieldSelector=metadata.name%3Da`, undefined, items('a', 'b', 'c')))).not.toBe(held);
    // The identical retry matches, whatever order the items were listed in.
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('c', 'a', 'b')))).toBe(held);
  });

  it('a retry that would delete another set of objects does not match', () => {
    const held = fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('a', 'b', 'c')));
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('a', 'b', 'c', 'd')))).not.toBe(held);
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('a', 'b')))).not.toBe(held);
    // Same names, but one object was deleted and recreated meanwhile (new uid).
    const recreated = items('a', 'b', 'c');
    recreated[2] = { ...recreated[2]!, uid: 'uid-c-2' };
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, recreated))).not.toBe(held);
    // Listed-and-empty differs from not listed.
    expect(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, []))).not.toBe(fingerprint(proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`)));
  });

  it('the approver sees the selector and the objects', () => {
    const req = proxied('DELETE', `${CM}?labelSelector=app%3Dtemp`, undefined, items('c', 'a', 'b'));
    expect(summarise(req)).toBe('agent deletecollection configmaps in team (v1) via proxy where labelSelector=app=temp: 3 objects (a, b, c)');
    expect(approvalOptions(req)).toEqual({ labelSelector: 'app=temp' });
    expect(approvalCollection(req)).toEqual({ count: 3, names: ['a', 'b', 'c'] });
    const many = proxied('DELETE', CM, undefined, Array.from({ length: 150 }, (_, i) => ({ namespace: 'team', name: `cm-${String(i).padStart(3, '0')}` })));
    expect(summarise(many)).toMatch(/: 150 objects \(cm-000, .*, cm-009 and 140 more\)$/);
    expect(approvalCollection(many)).toMatchObject({ count: 150 });
    expect(approvalCollection(many)!.names).toHaveLength(100);
    const cluster = proxied('DELETE', '/api/v1/configmaps', undefined, [{ namespace: 'x', name: 'a' }]);
    expect(summarise(cluster)).toBe('agent deletecollection configmaps cluster-wide (v1) via proxy: 1 object (x/a)');
  });
});

describe('hole 2: dryRun and DeleteOptions are part of the fingerprint', () => {
  it('a dry run never has the fingerprint of the real request', () => {
    const real = fingerprint(proxied('DELETE', `${CM}/settings`));
    expect(fingerprint(proxied('DELETE', `${CM}/settings?dryRun=All`))).not.toBe(real);
    expect(fingerprint(proxied('DELETE', `${CM}/settings`, { dryRun: ['All'] }))).not.toBe(real);
    // The body's dryRun and the query's dryRun mean the same thing to the API server: same fingerprint.
    expect(fingerprint(proxied('DELETE', `${CM}/settings`, { dryRun: ['All'] }))).toBe(fingerprint(proxied('DELETE', `${CM}/settings?dryRun=All`)));
  });

  it('propagation, grace period, preconditions, force, field manager and validation change it', () => {
    const f = fingerprint(proxied('DELETE', '/apis/apps/v1/namespaces/team/deployments/web'));
    for (const q of ['propagationPolicy=Orphan', 'gracePeriodSeconds=0', 'orphanDependents=true']) {
      expect(fingerprint(proxied('DELETE', `/apis/apps/v1/namespaces/team/deployments/web?${q}`))).not.toBe(f);
    }
    expect(fingerprint(proxied('DELETE', '/apis/apps/v1/namespaces/team/deployments/web', { preconditions: { uid: 'u1' } }))).not.toBe(f);
    // Query and body spellings of one option are the same request.
    expect(fingerprint(proxied('DELETE', '/apis/apps/v1/namespaces/team/deployments/web', { propagationPolicy: 'Orphan' })))
      .toBe(fingerprint(proxied('DELETE', '/apis/apps/v1/namespaces/team/deployments/web?propagationPolicy=Orphan')));
    const patch = (q: string) => fingerprint({ ...proxied('PATCH', `/apis/apps/v1/namespaces/team/deployments/web${q}`, {}), object: { kind: 'Deployment', spec: { replicas: 3 } } });
    expect(patch('?fieldManager=a')).not.toBe(patch(''));
    expect(patch('?fieldManager=a&force=true')).not.toBe(patch('?fieldManager=a'));
    expect(patch('?fieldValidation=Ignore')).not.toBe(patch(''));
  });

  it('exec commands, containers and ports change it; argv order matters', () => {
    const exec = (q: string) => fingerprint(proxied('POST', `/api/v1/namespaces/team/pods/p/exec?${q}`));
    expect(exec('command=ls&command=-l')).not.toBe(exec('command=-l&command=ls'));
    expect(exec('command=ls&container=a')).not.toBe(exec('command=ls&container=b'));
    expect(exec('command=ls&stdin=true')).not.toBe(exec('command=ls'));
    const pf = (q: string) => fingerprint(proxied('GET', `/api/v1/namespaces/team/pods/p/portforward?${q}`));
    expect(pf('ports=5432')).not.toBe(pf('ports=8080'));
  });

  it('requests without options keep the fingerprint they had before options were covered', () => {
    const a = proxied('PUT', `${CM}/settings`, {});
    expect(a.options).toBeUndefined();
    expect(fingerprint({ ...a, options: {} })).toBe(fingerprint(a));
    expect(fingerprint({ ...a, options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' } })).toBe(fingerprint(a));
  });
});

describe('effectOptions', () => {
  it('renders proxy and webhook options alike: flat, sorted, strings', () => {
    expect(effectOptions({ kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', dryRun: ['All'], propagationPolicy: 'Foreground', gracePeriodSeconds: 0, preconditions: { uid: 'u', resourceVersion: '7' } }))
      .toEqual({ gracePeriodSeconds: '0', 'preconditions.resourceVersion': '7', 'preconditions.uid': 'u', propagationPolicy: 'Foreground' });
    expect(Object.keys(effectOptions({ z: 'a', a: 'b', m: true }))).toEqual(['a', 'm', 'z']);
    expect(effectOptions({ command: ['sh', '-c', 'a b'], stdin: false, container: '', ports: [] })).toEqual({ command: '["sh","-c","a b"]', stdin: 'false' });
  });

  it('the displayed options cap long values (the fingerprint covers them whole)', () => {
    const long = 'x'.repeat(10_000);
    const shown = approvalOptions({ options: { command: [long] } })!;
    expect(shown.command!.length).toBeLessThanOrEqual(4096);
    expect(shown.command).toMatch(/truncated/);
    expect(fingerprint({ ...proxied('POST', '/api/v1/namespaces/team/pods/p/exec'), options: { command: [long] } }))
      .not.toBe(fingerprint({ ...proxied('POST', '/api/v1/namespaces/team/pods/p/exec'), options: { command: [long + 'y'] } }));
  });

  it('collectionItemsOf takes namespace, name and uid from listed objects', () => {
    expect(collectionItemsOf([{ metadata: { name: 'a', namespace: 'n', uid: 'u', labels: { x: 'y' } } }, { metadata: {} }, null, { metadata: { name: 'b' } }]))
      .toEqual([{ name: 'a', namespace: 'n', uid: 'u' }, { name: 'b' }]);
  });

  it('collectionSet sorts and drops duplicates', () => {
    expect(collectionSet([{ name: 'b' }, { namespace: 'n', name: 'a' }, { name: 'b' }])).toEqual([{ name: 'b' }, { namespace: 'n', name: 'a' }]);
    expect(collectionSet(undefined)).toBeUndefined();
  });
});
