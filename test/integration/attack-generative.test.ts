// A generative attack on the agent proxy as shipped (default policy, masking and recording on): a seeded
// generator combines paths (every served resource and subresource, the canaries' CRD, /watch/, odd
// encodings), methods, headers (Upgrade, Connection, Accept variants, encodings), content types and bodies
// (JSON patch copy/move/test, merge and strategic patches, apply, DeleteOptions), sends them as an agent
// holding cluster-admin at a namespace seeded with canaries, and fails on any canary, in any encoding, in
// anything the agent received or in the recordings. AIRLOCK_FUZZ_COUNT / AIRLOCK_FUZZ_SEED change the run
// (`make fuzz` runs a larger count).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { clientFor, testEnv, uniqueName } from '../helpers/env.js';
import { canariesInRecordings, findCanary, plantCanaries, startShippedProxy, type Canaries, type ShippedProxy } from '../helpers/hostile.js';

const COUNT = Number(process.env.AIRLOCK_FUZZ_COUNT ?? 1500);
const SEED = Number(process.env.AIRLOCK_FUZZ_SEED ?? 20261201);
const CONCURRENCY = 8;

let proxy: ShippedProxy;
let canaries: Canaries;
let resources: { prefix: string; name: string; namespaced: boolean }[] = [];
const ns = uniqueName('fuzz');

/** mulberry32: small, seedable, good enough to pick request shapes reproducibly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Attack {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  chunked?: boolean;
  upgrade?: boolean;
}

/** Every resource the agent could name: discovery as the admin (the agent's view is the same through the proxy). */
async function discover(): Promise<typeof resources> {
  const admin = await clientFor('admin');
  const out: typeof resources = [];
  const core = await admin.get<{ resources: { name: string; namespaced: boolean }[] }>('/api/v1');
  for (const r of core.resources) out.push({ prefix: '/api/v1', name: r.name, namespaced: r.namespaced });
  const groups = await admin.get<{ groups: { preferredVersion: { groupVersion: string } }[] }>('/apis');
  for (const g of groups.groups) {
    const gv = g.preferredVersion.groupVersion;
    const list = await admin.get<{ resources: { name: string; namespaced: boolean }[] }>(`/apis/${gv}`).catch(() => ({ resources: [] }));
    for (const r of list.resources) out.push({ prefix: `/apis/${gv}`, name: r.name, namespaced: r.namespaced });
  }
  return out;
}

const CANARY_OBJECTS = ['db', 'applied', 'kubeconfig', 'app', 'envpod', 'web', 'w1', 'default'];
const ACCEPTS = [
  'application/json',
  'application/yaml',
  'application/vnd.kubernetes.protobuf',
  'application/cbor',
  'application/json;as=Table;v=v1;g=meta.k8s.io',
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
  'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
  'application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io',
  '*/*',
  'text/plain',
  'application/json;stream=watch',
];
const QUERIES = ['', 'watch=1&timeoutSeconds=1', 'watch=true&timeoutSeconds=1&allowWatchBookmarks=true', 'fieldSelector=metadata.name%3Ddb', 'labelSelector=app%3Dweb', 'includeObject=Object', 'includeObject=None',
  'resourceVersion=0', 'limit=1', 'pretty=true', 'follow=false', 'container=app', 'command=cat&command=%2Fetc%2Fpasswd', 'dryRun=All', 'dryRun=All&dryRun=All', 'fieldManager=x&force=true'];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
const FROM = ['/data/password', '/data/token', '/data/key', '/data/config', '/data/DB_PASSWORD', '/spec/containers/0/env/0/value', '/spec/template/spec/containers/0/env/0/value', '/spec/password', '/spec/apiToken', '/stringData/password'];
const TO = ['/metadata/annotations/x', '/metadata/labels/x', '/type', '/metadata/name', '/status/message', '/spec/x', '/data/copy', '/metadata/generateName', '/kind'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function oddEncoding(r: () => number, path: string): string {
  switch (Math.floor(r() * 6)) {
    case 0: return path.replace(/s/g, '%73');
    case 1: return path + '/';
    case 2: return path.replace('/namespaces/', '/namespaces//');
    case 3: return path.replace(/e/, '%65');
    case 4: return path.toUpperCase();
    default: return path;
  }
}

function body(r: () => number, method: string): { contentType: string; text: string } | undefined {
  if (method === 'GET' || method === 'HEAD') return r() < 0.05 ? { contentType: 'application/json', text: '{}' } : undefined;
  if (method === 'DELETE') {
    return r() < 0.5 ? { contentType: 'application/json', text: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', dryRun: pick(r, [['All'], [], undefined]), propagationPolicy: 'Background' }) } : undefined;
  }
  if (method === 'PATCH') {
    const type = pick(r, PATCH_TYPES);
    if (type === 'application/json-patch+json') {
      const op = pick(r, ['copy', 'move', 'test', 'add', 'replace']);
      const ops: unknown[] = [{ op: 'add', path: '/metadata/annotations', value: {} }];
      if (op === 'copy' || op === 'move') ops.push({ op, from: pick(r, FROM), path: pick(r, TO) });
      else ops.push({ op, path: pick(r, FROM), value: pick(r, ['x', 'aHVudGVyMg==', '', 'cnry']) });
      return { contentType: type, text: JSON.stringify(ops) };
    }
    if (type === 'application/apply-patch+yaml') return { contentType: type, text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {mode: slow}\n' };
    return { contentType: type, text: JSON.stringify(pick(r, [{ metadata: { annotations: { a: 'b' } } }, { data: { mode: 'x' } }, { spec: { replicas: 0 } }, { $patch: 'replace' }, { metadata: { $retainKeys: ['name'] } }, 'garbage'])) };
  }
  const ct = pick(r, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'application/cbor', 'text/plain']);
  const obj = pick(r, [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: uniqueName('fz') }, data: { a: 'b' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: uniqueName('fz'), annotations: {} }, stringData: { p: 'value-of-mine' } },
    { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: ns } },
    { kind: 'List', apiVersion: 'v1', items: [] },
  ]);
  return { contentType: ct, text: ct === 'application/yaml' ? `kind: ${obj.kind}\napiVersion: ${obj.apiVersion}\n` : JSON.stringify(obj) };
}

function generate(r: () => number): Attack {
  const res = pick(r, resources);
  const [base, sub] = res.name.split('/');
  const named = sub !== undefined || r() < 0.6;
  let path = res.prefix + (res.namespaced ? `/namespaces/${r() < 0.85 ? ns : 'kube-system'}` : '') + `/${base}`;
  if (named) path += `/${pick(r, CANARY_OBJECTS)}`;
  if (sub) path += `/${sub}`;
  if (r() < 0.08) path = path.replace(res.prefix, `${res.prefix}/watch`);
  if (r() < 0.15) path = oddEncoding(r, path);
  const method = pick(r, ['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND']);
  const q = pick(r, QUERIES);
  const mutating = method !== 'GET' && method !== 'HEAD';
  // Changes to the canaries themselves are dry runs (so they stay in place); creates of fresh objects may be real.
  const query = [q, mutating && (method !== 'POST' || r() < 0.5) ? 'dryRun=All' : ''].filter(Boolean).join('&');
  const headers: Record<string, string> = { accept: pick(r, ACCEPTS) };
  if (r() < 0.3) headers['accept-encoding'] = pick(r, ['gzip', 'deflate', 'br', 'gzip, deflate', 'identity;q=0, gzip']);
  const upgrade = r() < 0.12;
  if (upgrade) {
    headers.connection = pick(r, ['Upgrade', 'keep-alive, Upgrade', 'upgrade']);
    headers.upgrade = pick(r, ['websocket', 'SPDY/3.1', 'h2c']);
    headers['sec-websocket-version'] = '13';
    headers['sec-websocket-key'] = 'dGhlIHNhbXBsZSBub25jZQ==';
    headers['sec-websocket-protocol'] = pick(r, ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'base64.channel.k8s.io']);
  }
  const b = upgrade ? undefined : body(r, method);
  if (b) {
    headers['content-type'] = b.contentType;
    if (r() < 0.05) headers['content-encoding'] = 'gzip';
  }
  return { method, path: query ? `${path}?${query}` : path, headers, ...(b ? { body: b.text } : {}), chunked: r() < 0.1, upgrade };
}

/** An upgrade attempt over a raw TLS socket: whatever comes back within a second, 101 or not. */
function sendUpgrade(a: Attack): Promise<string> {
  const u = new URL(proxy.url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: u.hostname, port: Number(u.port), ca: readFileSync(testEnv().caFile), servername: 'localhost' }, () => {
      const lines = [`${a.method} ${a.path} HTTP/1.1`, `Host: ${u.host}`, `Authorization: Bearer ${testEnv().tokens['agent-ci']}`, ...Object.entries(a.headers).map(([k, v]) => `${k}: ${v}`)];
      sock.write(lines.join('\r\n') + '\r\n\r\n');
    });
    const finish = () => {
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', finish);
    sock.on('close', finish);
    setTimeout(finish, 1500).unref();
  });
}

/** Sends one request and returns everything the agent received within the deadline (status, headers, body). */
function send(a: Attack): Promise<string> {
  if (a.upgrade) return sendUpgrade(a);
  const u = new URL(proxy.url);
  const headers: Record<string, string> = { ...a.headers, authorization: `Bearer ${testEnv().tokens['agent-ci']}` };
  if (a.body !== undefined && !a.chunked) headers['content-length'] = String(Buffer.byteLength(a.body));
  return new Promise((resolve) => {
    let head = 'none';
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (note = ''): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(`${head}${note}\n${Buffer.concat(chunks).toString('latin1')}`);
    };
    const req = httpsRequest({ hostname: u.hostname, port: u.port, method: a.method, path: a.path, headers, ca: readFileSync(testEnv().caFile), agent: false }, (res) => {
      head = `${res.statusCode} ${JSON.stringify(res.headers)}`;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish());
      res.on('error', () => finish(' (cut)'));
    });
    req.on('error', (err) => finish(` error ${err.message}`));
    // Watches and follows stream until the deadline: what arrived by then is what is scanned.
    setTimeout(() => finish(' (deadline)'), 2500).unref();
    req.end(a.body);
  });
}

beforeAll(async () => {
  proxy = await startShippedProxy();
  canaries = await plantCanaries(ns);
  resources = await discover();
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  await (await clientFor('admin')).delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('generative attack on the shipped proxy', () => {
  it(`${COUNT} generated requests (seed ${SEED}) leak no canary to the agent or the recordings`, async () => {
    const r = rng(SEED);
    const attacks = Array.from({ length: COUNT }, () => generate(r));
    const leaks: string[] = [];
    const statuses = new Map<string, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < attacks.length) {
        const i = next++;
        const a = attacks[i]!;
        const answer = await send(a);
        const code = answer.slice(0, answer.indexOf(' ')) || 'none';
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        const hit = findCanary(answer, canaries.values);
        if (hit) leaks.push(`#${i} ${a.method} ${a.path} ${JSON.stringify(a.headers)} ${a.body ?? ''} -> ${hit}\n${answer.slice(0, 400)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await new Promise((res) => setTimeout(res, 500));
    console.log(`[fuzz] ${COUNT} requests, seed ${SEED}, answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect(leaks).toEqual([]);
    expect(canariesInRecordings(proxy.recordings, canaries.values)).toEqual([]);
    // The run exercised the proxy, not only its refusals: some requests were served.
    expect([...statuses.keys()].some((c) => c.startsWith('2'))).toBe(true);
    // The canaries are still in place (the run changed nothing it should not have).
    const admin = await clientFor('admin');
    const secret = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/db`);
    expect(Buffer.from(secret.data.password!, 'base64').toString()).toBe(canaries.byName.secretPassword);
  }, Math.max(240_000, COUNT * 200));
});
