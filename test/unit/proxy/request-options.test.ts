import { describe, expect, it } from '@jest/globals';
import { collectionListQuery, effectiveOptions, type RequestOptionsInput } from '../../../src/proxy/request-options.js';
import { parseRequestInfo, RequestError } from '../../../src/proxy/request-info.js';

const opts = (method: string, url: string, body?: unknown) => {
  const input: RequestOptionsInput = { method, info: parseRequestInfo(method, url) };
  if (body !== undefined) input.body = body;
  return effectiveOptions(input);
};
const refused = (method: string, url: string, body: unknown, message: RegExp): void => {
  let err: unknown;
  try {
    opts(method, url, body);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(RequestError);
  expect(err).toMatchObject({ code: 400, reason: 'BadRequest' });
  expect((err as Error).message).toMatch(message);
};

const CM = '/api/v1/namespaces/team/configmaps';
const DEL_OPTS = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' };

describe('effectiveOptions: dryRun as kube-apiserver decides it', () => {
  it('hole 2: ?dryRun=All next to a DeleteOptions body is not a dry run for the API server, so it is refused', () => {
    refused('DELETE', `${CM}/settings?dryRun=All`, { ...DEL_OPTS, propagationPolicy: 'Background' }, /dryRun=All is in the query but the DeleteOptions body says not set.*only the body/);
    refused('DELETE', `${CM}?dryRun=All&labelSelector=app%3Dtemp`, { ...DEL_OPTS }, /dryRun=All is in the query/);
    refused('DELETE', `${CM}/settings?dryRun=All`, {}, /dryRun/);
  });

  it('takes dryRun from the DeleteOptions body when there is one, and from the query only without a body', () => {
    expect(opts('DELETE', `${CM}/settings`, { ...DEL_OPTS, dryRun: ['All'] }).dryRun).toBe(true);
    expect(opts('DELETE', `${CM}/settings`, { ...DEL_OPTS }).dryRun).toBe(false);
    expect(opts('DELETE', `${CM}/settings?dryRun=All`).dryRun).toBe(true);
    expect(opts('DELETE', `${CM}/settings`).dryRun).toBe(false);
    expect(opts('DELETE', `${CM}?labelSelector=a%3Db`, { dryRun: ['All'] }).dryRun).toBe(true);
    // The same value in both places is unambiguous.
    expect(opts('DELETE', `${CM}/settings?dryRun=All`, { ...DEL_OPTS, dryRun: ['All'] }).dryRun).toBe(true);
  });

  it('refuses unknown dryRun values wherever they are', () => {
    refused('DELETE', `${CM}/settings?dryRun=true`, undefined, /unsupported dryRun value "true"/);
    refused('DELETE', `${CM}/settings?dryRun=`, undefined, /unsupported dryRun value ""/);
    refused('DELETE', `${CM}/settings`, { dryRun: ['all'] }, /unsupported dryRun value "all"/);
    refused('DELETE', `${CM}/settings`, { dryRun: 'All' }, /dryRun must be a list of strings/);
    refused('POST', CM + '?dryRun=server', { kind: 'ConfigMap' }, /unsupported dryRun value "server"/);
    refused('PATCH', `${CM}/settings?dryRun=All&dryRun=None`, {}, /unsupported dryRun value "None"/);
  });

  it('reads create/update/patch options from the query only (the body is the object)', () => {
    expect(opts('POST', `${CM}?dryRun=All&fieldManager=kubectl&fieldValidation=Strict`, { kind: 'ConfigMap', dryRun: 'no' })).toEqual({
      dryRun: true, options: { fieldManager: 'kubectl', fieldValidation: 'Strict' },
    });
    expect(opts('PUT', `${CM}/settings`, { kind: 'ConfigMap', metadata: { name: 'settings' } })).toEqual({ dryRun: false, options: {} });
    expect(opts('PATCH', `${CM}/settings?fieldManager=m&force=true`, {})).toEqual({ dryRun: false, options: { fieldManager: 'm', force: true } });
    refused('POST', `${CM}?fieldValidation=strict`, {}, /unsupported fieldValidation "strict"/);
  });

  it('has no dry run for reads, connect and proxy requests (the API server ignores dryRun there)', () => {
    expect(opts('GET', `${CM}?dryRun=All`).dryRun).toBe(false);
    expect(opts('POST', '/api/v1/namespaces/team/pods/p/exec?command=ls&dryRun=All').dryRun).toBe(false);
    expect(opts('GET', '/api/v1/namespaces/team/services/s/proxy/admin?dryRun=All')).toEqual({
      dryRun: false, options: { proxyPath: '/api/v1/namespaces/team/services/s/proxy/admin', proxyQuery: 'dryRun=All' },
    });
  });

  it('pods/eviction merges the query dryRun with the Eviction deleteOptions.dryRun', () => {
    const ev = '/api/v1/namespaces/team/pods/p/eviction';
    const eviction = (deleteOptions?: unknown) => ({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'p' }, ...(deleteOptions ? { deleteOptions } : {}) });
    expect(opts('POST', ev, eviction({ dryRun: ['All'] })).dryRun).toBe(true);
    expect(opts('POST', `${ev}?dryRun=All`, eviction()).dryRun).toBe(true);
    expect(opts('POST', `${ev}?dryRun=All`, eviction({ gracePeriodSeconds: 0 })).dryRun).toBe(true);
    expect(opts('POST', ev, eviction({ gracePeriodSeconds: 0 })).dryRun).toBe(false);
    refused('POST', `${ev}?dryRun=All&dryRun=All`, eviction({ dryRun: ['All'] }), /dryRun differs/);
  });
});

describe('effectiveOptions: DeleteOptions', () => {
  it('reads them from the query without a body, with Go semantics for booleans and integers', () => {
    expect(opts('DELETE', `${CM}/settings?gracePeriodSeconds=0&propagationPolicy=Foreground`).options).toEqual({ gracePeriodSeconds: 0, propagationPolicy: 'Foreground' });
    expect(opts('DELETE', `${CM}/settings?orphanDependents=no`).options).toEqual({ orphanDependents: true }); // only "0"/"false" are false
    expect(opts('DELETE', `${CM}/settings?orphanDependents=FALSE`).options).toEqual({ orphanDependents: false });
    refused('DELETE', `${CM}/settings?gracePeriodSeconds=soon`, undefined, /gracePeriodSeconds="soon" is not an integer/);
  });

  it('reads them from the body when there is one; query parameters must agree with it', () => {
    const body = { ...DEL_OPTS, gracePeriodSeconds: 5, propagationPolicy: 'Orphan', preconditions: { uid: 'u-1', resourceVersion: '42' } };
    expect(opts('DELETE', `${CM}/settings`, body)).toEqual({
      dryRun: false, options: { gracePeriodSeconds: 5, propagationPolicy: 'Orphan', preconditions: { uid: 'u-1', resourceVersion: '42' } },
    });
    expect(opts('DELETE', `${CM}/settings?propagationPolicy=Orphan`, body).options.propagationPolicy).toBe('Orphan');
    refused('DELETE', `${CM}/settings?propagationPolicy=Foreground`, body, /propagationPolicy=Foreground is in the query but the DeleteOptions body says "Orphan"/);
    refused('DELETE', `${CM}/settings?gracePeriodSeconds=0`, { ...DEL_OPTS }, /gracePeriodSeconds=0 is in the query but the DeleteOptions body says not set/);
  });

  it('accepts meta.k8s.io/v1 and the per-group DeleteOptions, nothing else', () => {
    expect(opts('DELETE', `${CM}/settings`, { kind: 'DeleteOptions', apiVersion: 'v1' }).dryRun).toBe(false);
    expect(opts('DELETE', '/apis/apps/v1/namespaces/team/deployments/web', { kind: 'DeleteOptions', apiVersion: 'apps/v1', dryRun: ['All'] }).dryRun).toBe(true);
    expect(opts('DELETE', `${CM}/settings`, { gracePeriodSeconds: 1 }).options).toEqual({ gracePeriodSeconds: 1 });
    refused('DELETE', `${CM}/settings`, { kind: 'ConfigMap', apiVersion: 'v1' }, /kind "ConfigMap"; it must be DeleteOptions/);
    refused('DELETE', `${CM}/settings`, { kind: 'DeleteOptions', apiVersion: 'example.com/v1' }, /apiVersion "example.com\/v1"/);
    refused('DELETE', `${CM}/settings`, ['All'], /must be a JSON object/);
    refused('DELETE', `${CM}/settings`, null, /must be a JSON object/);
    refused('DELETE', `${CM}/settings`, 'dryRun=All', /must be a JSON object/);
  });

  it('refuses field names the API server would ignore but a reader could take for options', () => {
    refused('DELETE', `${CM}/settings`, { DryRun: ['All'] }, /field "DryRun"; the API server only knows "dryRun"/);
    refused('DELETE', `${CM}/settings`, { GracePeriodSeconds: 0 }, /"gracePeriodSeconds"/);
  });

  it('validates them like ValidateDeleteOptions and checks their types', () => {
    refused('DELETE', `${CM}/settings?propagationPolicy=Everything`, undefined, /unsupported propagationPolicy "Everything"/);
    refused('DELETE', `${CM}/settings?propagationPolicy=Orphan&orphanDependents=true`, undefined, /cannot both be set/);
    refused('DELETE', `${CM}/settings`, { gracePeriodSeconds: '0' }, /gracePeriodSeconds must be an integer/);
    refused('DELETE', `${CM}/settings`, { gracePeriodSeconds: 1.5 }, /must be an integer/);
    refused('DELETE', `${CM}/settings`, { preconditions: { uid: 7 } }, /uid must be a string/);
    refused('DELETE', `${CM}/settings`, { orphanDependents: 'true' }, /must be a boolean/);
    expect(opts('DELETE', `${CM}/settings`, { dryRun: null, preconditions: null }).options).toEqual({});
  });
});

describe('effectiveOptions: selectors and repeated parameters', () => {
  it('hole 1: a deletecollection carries its selectors and list options', () => {
    const e = opts('DELETE', `${CM}?labelSelector=app%3Dtemp&fieldSelector=metadata.name%21%3Dkeep&limit=50`);
    expect(e).toEqual({ dryRun: false, options: { labelSelector: 'app=temp', fieldSelector: 'metadata.name!=keep', limit: 50 } });
    expect(opts('DELETE', CM)).toEqual({ dryRun: false, options: {} });
    // The list options still come from the query when DeleteOptions come from the body.
    expect(opts('DELETE', `${CM}?labelSelector=app%3Dtemp`, { ...DEL_OPTS, propagationPolicy: 'Foreground' }).options).toEqual({ labelSelector: 'app=temp', propagationPolicy: 'Foreground' });
  });

  it('refuses a single-valued parameter given twice (Go would take the first, a reader maybe the last)', () => {
    refused('DELETE', `${CM}?labelSelector=app%3Dtemp&labelSelector=app%3Dkeep`, undefined, /labelSelector is given 2 times/);
    refused('DELETE', `${CM}/x?propagationPolicy=Orphan&propagationPolicy=Foreground`, undefined, /propagationPolicy is given 2 times/);
    refused('PATCH', `${CM}/x?fieldManager=a&fieldManager=b`, {}, /fieldManager is given 2 times/);
    refused('POST', '/api/v1/namespaces/team/pods/p/exec?command=ls&container=a&container=b', undefined, /container is given 2 times/);
    refused('GET', '/api/v1/namespaces/team/pods/p/log?tailLines=1&tailLines=100', undefined, /tailLines is given 2 times/);
    // dryRun is a list: repeating it is fine.
    expect(opts('DELETE', `${CM}/x?dryRun=All&dryRun=All`).dryRun).toBe(true);
  });

  it('builds the list query that selects what a deletecollection deletes', () => {
    const e = opts('DELETE', `${CM}?labelSelector=app%3Dtemp&limit=2&propagationPolicy=Foreground`);
    expect(collectionListQuery(e.options).toString()).toBe('labelSelector=app%3Dtemp&limit=2');
  });

  it('carries list selectors for list and watch', () => {
    expect(opts('GET', `${CM}?labelSelector=a%3Db&watch=true`)).toEqual({ dryRun: false, options: { labelSelector: 'a=b' } });
  });
});

describe('effectiveOptions: subresource parameters', () => {
  it('exec: container, stdio flags and the command in order', () => {
    expect(opts('POST', '/api/v1/namespaces/team/pods/p/exec?container=app&command=sh&command=-c&command=echo%20hi&stdin=true&tty=1&stdout=0').options).toEqual({
      container: 'app', stdin: true, stdout: false, tty: true, command: ['sh', '-c', 'echo hi'],
    });
    expect(opts('GET', '/api/v1/namespaces/team/pods/p/exec?command=b&command=a').options.command).toEqual(['b', 'a']);
  });

  it('attach and portforward', () => {
    expect(opts('POST', '/api/v1/namespaces/team/pods/p/attach?container=app&stdin=true&command=ignored').options).toEqual({ container: 'app', stdin: true });
    expect(opts('GET', '/api/v1/namespaces/team/pods/p/portforward?ports=8080,9090&ports=5432').options).toEqual({ ports: [8080, 9090, 5432] });
    refused('GET', '/api/v1/namespaces/team/pods/p/portforward?ports=http', undefined, /"http" is not a port number/);
    refused('GET', '/api/v1/namespaces/team/pods/p/portforward?ports=70000', undefined, /not a port number/);
  });

  it('log', () => {
    expect(opts('GET', '/api/v1/namespaces/team/pods/p/log?container=app&follow=true&previous=false&tailLines=10&sinceSeconds=60&limitBytes=1024&timestamps=true').options).toEqual({
      container: 'app', follow: true, previous: false, tailLines: 10, sinceSeconds: 60, limitBytes: 1024, timestamps: true,
    });
  });

  it('nothing for non-resource requests', () => {
    expect(opts('GET', '/version?dryRun=All&dryRun=x')).toEqual({ dryRun: false, options: {} });
  });
});
