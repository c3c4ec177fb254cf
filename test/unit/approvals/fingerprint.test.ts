import { describe, expect, it } from '@jest/globals';
import { canonicalJson, fingerprint, normaliseObject } from '../../../src/approvals/fingerprint.js';
import type { RequestAttributes } from '../../../src/policy/types.js';

const base = (object: Record<string, unknown>, over: Partial<RequestAttributes> = {}): RequestAttributes => ({
  user: { username: 'agent-ci', groups: ['airlock:agents'] }, verb: 'update', isResourceRequest: true,
  apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', via: 'webhook', object, ...over,
});

const dep = (extra: Record<string, unknown> = {}, meta: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'web', namespace: 'prod', labels: { app: 'web' }, ...meta },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'i:1' }] } }, ...extra },
});

describe('fingerprint', () => {
  it('ignores server-assigned metadata, status, provenance annotations and last-applied-configuration', () => {
    const a = fingerprint(base(dep()));
    const b = fingerprint(base({
      ...dep({}, {
        resourceVersion: '123', uid: 'u-1', generation: 7, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl' }], selfLink: '/x',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'airlock.dev/session': 's1', 'proxy.airlock.dev/agent': 'x' },
      }),
      status: { replicas: 2 },
    }));
    expect(b).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is independent of key order but not of array order or values', () => {
    const o1 = { a: 1, b: { c: [1, 2], d: 'x' } };
    const o2 = { b: { d: 'x', c: [1, 2] }, a: 1 };
    expect(canonicalJson(o1)).toBe(canonicalJson(o2));
    expect(canonicalJson({ c: [2, 1] })).not.toBe(canonicalJson({ c: [1, 2] }));
    expect(fingerprint(base(dep({ replicas: 3 })))).not.toBe(fingerprint(base(dep())));
  });

  it('differs by user, verb, resource, subresource, namespace and name', () => {
    const f = fingerprint(base(dep()));
    expect(fingerprint(base(dep(), { user: { username: 'other', groups: [] } }))).not.toBe(f);
    expect(fingerprint(base(dep(), { verb: 'patch' }))).not.toBe(f);
    expect(fingerprint(base(dep(), { resource: 'statefulsets' }))).not.toBe(f);
    expect(fingerprint(base(dep(), { subresource: 'scale' }))).not.toBe(f);
    expect(fingerprint(base(dep(), { namespace: 'staging' }))).not.toBe(f);
    expect(fingerprint(base(dep(), { name: 'api' }))).not.toBe(f);
    expect(fingerprint(base(dep(), { apiVersion: 'v1beta1' }))).not.toBe(f);
  });

  it('uses the old object for deletes', () => {
    const del = (o: Record<string, unknown>) => base(undefined as unknown as Record<string, unknown>, { verb: 'delete', object: undefined, oldObject: o });
    expect(fingerprint(del(dep()))).toBe(fingerprint(del(dep({}, { resourceVersion: '9' }))));
    expect(fingerprint(del(dep()))).not.toBe(fingerprint(del(dep({ replicas: 9 }))));
  });

  it('drops values the API server allocates on each attempt (Service IPs, node ports, Job controller-uid)', () => {
    const svc = (ip: string, port: number) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80, nodePort: port }], type: 'NodePort' } });
    expect(fingerprint(base(svc('10.0.0.1', 30001), { resource: 'services' }))).toBe(fingerprint(base(svc('10.0.0.2', 30002), { resource: 'services' })));
    const job = (uid: string) => ({ kind: 'Job', metadata: { name: 'j' }, spec: { selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } }, template: { metadata: { labels: { 'controller-uid': uid, app: 'j' } } } } });
    expect(normaliseObject(job('a'))).toEqual(normaliseObject(job('b')));
    expect(normaliseObject(job('a'))).toEqual({ kind: 'Job', metadata: { name: 'j' }, spec: { template: { metadata: { labels: { app: 'j' } } } } });
  });

  it('binds an exec to its argv, container, interactivity, pod uid and image', () => {
    const target = { pod: 'app', podUID: 'u-1', container: 'app', image: 'registry.example/app:1', credentialPaths: [] };
    const exec = (over: Record<string, unknown> = {}, t: Record<string, unknown> = {}): RequestAttributes => ({
      user: { username: 'agent-ci', groups: [] }, verb: 'create', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'exec', namespace: 'a', name: 'app', via: 'proxy',
      options: { command: ['ls', '/'], container: 'app', stdin: true }, exec: { kind: 'exec', command: ['ls', '/'], interactive: true, target: { ...target, ...t } }, ...over,
    });
    const held = fingerprint(exec());
    expect(fingerprint(exec())).toBe(held);
    expect(fingerprint(exec({ options: { command: ['ls', '/etc'], container: 'app', stdin: true } }))).not.toBe(held);
    expect(fingerprint(exec({ options: { command: ['ls', '/'], container: 'side', stdin: true } }))).not.toBe(held);
    expect(fingerprint(exec({ options: { command: ['ls', '/'], container: 'app' } }))).not.toBe(held);
    expect(fingerprint(exec({}, { podUID: 'u-2' }))).not.toBe(held);
    expect(fingerprint(exec({}, { image: 'registry.example/evil:1' }))).not.toBe(held);
  });

  it('does not modify its input', () => {
    const o = dep({}, { resourceVersion: '1' });
    normaliseObject(o);
    expect((o.metadata as Record<string, unknown>).resourceVersion).toBe('1');
  });
});
