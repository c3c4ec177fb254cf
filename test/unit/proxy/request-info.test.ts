import { describe, expect, it } from '@jest/globals';
import { judgedVerbs, normalisePath, parseRequestInfo, RequestError } from '../../../src/proxy/request-info.js';

const ri = (method: string, url: string) => parseRequestInfo(method, url);

describe('parseRequestInfo', () => {
  it.each([
    ['GET', '/api/v1/namespaces/ns/pods/p', { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'ns', name: 'p' }],
    ['GET', '/api/v1/namespaces/ns/pods', { verb: 'list', resource: 'pods', namespace: 'ns', name: undefined }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=1', { verb: 'watch', watch: true }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=true', { verb: 'watch', watch: true }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=false', { verb: 'list', watch: false }],
    ['GET', '/api/v1/watch/namespaces/ns/pods', { verb: 'watch', watch: true, resource: 'pods', namespace: 'ns' }],
    ['GET', '/api/v1/watch/namespaces/ns/pods/p', { verb: 'watch', resource: 'pods', name: 'p' }],
    ['GET', '/apis/apps/v1/deployments', { verb: 'list', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: undefined }],
    ['POST', '/apis/apps/v1/namespaces/ns/deployments', { verb: 'create', resource: 'deployments' }],
    ['PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale', { verb: 'update', subresource: 'scale', name: 'd' }],
    ['PATCH', '/apis/apps/v1/namespaces/ns/deployments/d', { verb: 'patch' }],
    ['DELETE', '/api/v1/namespaces/ns/pods/p', { verb: 'delete', name: 'p' }],
    ['DELETE', '/api/v1/namespaces/ns/pods', { verb: 'deletecollection', name: undefined }],
    ['GET', '/api/v1/namespaces/ns/pods/p/log', { verb: 'get', subresource: 'log' }],
    ['POST', '/api/v1/namespaces/ns/pods/p/exec', { verb: 'create', subresource: 'exec' }],
    ['GET', '/api/v1/namespaces/ns/pods/p/proxy/some/path', { verb: 'get', subresource: 'proxy', name: 'p' }],
    ['GET', '/api/v1/proxy/namespaces/ns/pods/p/some/path', { verb: 'proxy', resource: 'pods', name: 'p', subresource: undefined }],
    ['GET', '/api/v1/namespaces/foo', { verb: 'get', resource: 'namespaces', name: 'foo', namespace: 'foo' }],
    ['PUT', '/api/v1/namespaces/foo/status', { verb: 'update', resource: 'namespaces', name: 'foo', subresource: 'status' }],
    ['PUT', '/api/v1/namespaces/foo/finalize', { verb: 'update', resource: 'namespaces', subresource: 'finalize' }],
    ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces', namespace: undefined }],
    ['GET', '/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Ddb', { verb: 'list', name: 'db' }],
    ['GET', '/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3D%3Ddb', { verb: 'watch', name: 'db' }],
    ['GET', '/api/v1/namespaces/ns/secrets/db?watch=true', { verb: 'watch', name: 'db' }],
  ])('%s %s', (method, url, expected) => {
    const info = ri(method, url);
    expect(info.isResourceRequest).toBe(true);
    const present = Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined));
    expect(info).toMatchObject(present);
    for (const [k, v] of Object.entries(expected)) if (v === undefined) expect(info[k as keyof typeof info]).toBeUndefined();
  });

  it.each([['/api'], ['/apis'], ['/apis/apps'], ['/apis/apps/v1'], ['/api/v1'], ['/version'], ['/openapi/v3'], ['/openapi/v3/apis/apps/v1'], ['/healthz'], ['/']])(
    'non-resource %s',
    (url) => {
      const info = ri('GET', url);
      expect(info.isResourceRequest).toBe(false);
      expect(info.verb).toBe('get');
    },
  );

  it('keeps case (API paths are case-sensitive upstream)', () => {
    expect(ri('GET', '/api/v1/namespaces/ns/Secrets/x').resource).toBe('Secrets');
  });

  it('canonicalises the path and query it forwards', () => {
    const info = ri('GET', '/api/v1/namespaces/ns/s%65crets/db?labelSelector=a%3Db&limit=5');
    expect(info.path).toBe('/api/v1/namespaces/ns/secrets/db');
    expect(info.resource).toBe('secrets');
    expect(info.query).toBe('labelSelector=a%3Db&limit=5');
    expect(ri('GET', '/api/v1/namespaces/ns/pods/a:b@c').path).toBe('/api/v1/namespaces/ns/pods/a:b@c');
    expect(ri('GET', '/api/v1/namespaces/ns/pods/').path).toBe('/api/v1/namespaces/ns/pods/');
  });

  it('refuses an invalid watch value and unknown methods', () => {
    expect(() => ri('GET', '/api/v1/pods?watch=yes')).toThrow(RequestError);
    expect(() => ri('OPTIONS', '/api/v1/pods')).toThrow(/not supported/);
  });

  it('judges connect subresources as create (and get for GET upgrades)', () => {
    expect(judgedVerbs(ri('POST', '/api/v1/namespaces/n/pods/p/exec'), 'POST')).toEqual(['create']);
    expect(judgedVerbs(ri('GET', '/api/v1/namespaces/n/pods/p/exec'), 'GET')).toEqual(['create', 'get']);
    expect(judgedVerbs(ri('GET', '/api/v1/namespaces/n/pods/p/portforward'), 'GET')).toEqual(['create', 'get']);
    expect(judgedVerbs(ri('GET', '/api/v1/namespaces/n/pods/p/log'), 'GET')).toEqual(['get']);
  });
});

describe('normalisePath', () => {
  it.each([
    ['/api/v1/namespaces/x/secrets/../pods'],
    ['/api/v1/namespaces/x/./pods'],
    ['/api/v1/namespaces/x/%2e%2e/pods'],
    ['/api/v1/namespaces/x/%2E/pods'],
    ['/api/v1/namespaces/x%2Fsecrets'],
    ['/api/v1/namespaces/x%2fsecrets'],
    ['/api/v1/namespaces/x%5csecrets'],
    ['/api/v1/namespaces/x/%25'],
    ['/api/v1/namespaces/x/%252e%252e'],
    ['/api/v1//namespaces'],
    ['//api/v1'],
    ['/api/v1/namespaces/x\\y'],
    ['/api/v1/namespaces/x%00'],
    ['/api/v1/namespaces/x\u0000'],
    ['/api/v1/namespaces/%zz'],
    ['api/v1'],
  ])('refuses %s', (p) => {
    expect(() => normalisePath(p)).toThrow(RequestError);
    try {
      normalisePath(p);
    } catch (err) {
      expect((err as RequestError).code).toBe(400);
    }
  });

  it('decodes once and re-encodes canonically', () => {
    expect(normalisePath('/api/v1/namespaces/%6e%73').path).toBe('/api/v1/namespaces/ns');
    expect(normalisePath('/api/v1/namespaces/a%20b').path).toBe('/api/v1/namespaces/a%20b');
    expect(normalisePath('/').path).toBe('/');
  });
});
