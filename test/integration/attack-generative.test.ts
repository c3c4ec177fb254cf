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
import { approveAs, canariesInRecordings, findCanary, plantCanaries, startShippedProxy, type Canaries, type ShippedProxy } from '../helpers/hostile.js';
import { mulberry32 } from '../helpers/random.js';

const COUNT = Number(process.env.AIRLOCK_FUZZ_COUNT ?? 1500);
const SEED = Number(process.env.AIRLOCK_FUZZ_SEED ?? 20261201);
const CONCURRENCY = 8;

let proxy: ShippedProxy;
let canaries: Canaries;
let resources: { prefix: string; name: string; namespaced: boolean }[] = [];
const ns = uniqueName('fuzz');
const prod = uniqueName('fuzzprod');

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
  const admin = await clientFor('admin');
  for (const n of [ns, prod]) await admin.delete(`/api/v1/namespaces/${n}`).catch(() => undefined);
});

describe('generative attack on the shipped proxy', () => {
  it(`${COUNT} generated requests (seed ${SEED}) leak no canary to the agent or the recordings`, async () => {
    const r = mulberry32(SEED);
    const attacks = Array.from({ length: COUNT }, () => generate(r));
    const leaks: string[] = [];
    const statuses = new Map<string, number>();
    // The proxy's own internal errors (kube-apiserver's own 500s carry its audit id and pass through): each
    // is a bug, a Status still, never a crash.
    const internal: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < attacks.length) {
        const i = next++;
        const a = attacks[i]!;
        const answer = await send(a);
        const code = answer.slice(0, answer.indexOf(' ')) || 'none';
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
        if (code === '500' && answer.includes('airlock: internal error')) internal.push(`#${i} ${a.method} ${a.path} ${JSON.stringify(a.headers)} ${(a.body ?? '').slice(0, 300)} -> ${answer.slice(0, 300)}`);
        const hit = findCanary(answer, canaries.values);
        if (hit) leaks.push(`#${i} ${a.method} ${a.path} ${JSON.stringify(a.headers)} ${a.body ?? ''} -> ${hit}\n${answer.slice(0, 400)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await new Promise((res) => setTimeout(res, 500));
    console.log(`[fuzz] ${COUNT} requests, seed ${SEED}, answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    expect(internal).toEqual([]);
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

/** One held request and the ways a retry could differ from it (each must not ride on its Approval). */
interface HeldCase {
  method: string;
  path: string;
  body?: string;
  /** Objects that exist only while the held request has not run. */
  guards: string[];
}

const APPROVAL_COUNT = Number(process.env.AIRLOCK_FUZZ_APPROVALS ?? 12);

function heldName(text: string): string | undefined {
  return /held for approval: kubectl approve (\S+)/.exec(text)?.[1];
}

/** Alterations of a held request that change its effect: another selector, name, option, or dry run read another way. */
function alterations(r: () => number, c: HeldCase): HeldCase[] {
  const [path, query = ''] = c.path.split('?');
  const q = new URLSearchParams(query);
  const out: HeldCase[] = [];
  const withQuery = (edit: (p: URLSearchParams) => void): HeldCase => {
    const p = new URLSearchParams(q);
    edit(p);
    const qs = p.toString();
    return { ...c, path: qs ? `${path}?${qs}` : path! };
  };
  // Selectors change what a bulk delete removes (a named delete ignores them, as the API server does).
  if (q.has('labelSelector')) {
    out.push(withQuery((p) => p.delete('labelSelector')));
    out.push(withQuery((p) => p.set('labelSelector', pick(r, ['app=keep', 'app!=temp', 'app in (temp,keep)', 'app']))));
    out.push(withQuery((p) => p.set('fieldSelector', 'metadata.name!=none')));
  }
  out.push(withQuery((p) => p.set('propagationPolicy', pick(r, ['Orphan', 'Foreground']))));
  out.push(withQuery((p) => p.set('gracePeriodSeconds', pick(r, ['0', '1']))));
  out.push({ ...withQuery((p) => p.set('dryRun', 'All')), body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1' }) });
  out.push({ ...c, body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' }) });
  if (/\/configmaps\/[^/?]+/.test(path!)) out.push({ ...c, path: c.path.replace(/\/configmaps\/([^/?]+)/, '/configmaps/$1x') });
  // An "alteration" that is the same request is the exact retry: not one of these.
  return out.filter((a) => a.path !== c.path || a.body !== c.body);
}

describe('generative attack on approvals and identity', () => {
  it(`${APPROVAL_COUNT} held requests, approved once: altered retries never consume the Approval or act; identity probes never show the proxied token`, async () => {
    const admin = await clientFor('admin');
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: prod, labels: { env: 'production' } } });
    const r = mulberry32(SEED + 1);
    const failures: string[] = [];
    for (let i = 0; i < APPROVAL_COUNT; i++) {
      // A fresh set of objects per round: some the held request removes, one it must leave alone.
      const tag = `r${i}`;
      for (const [name, app] of [[`${tag}-t1`, 'temp'], [`${tag}-t2`, 'temp'], [`${tag}-k`, 'keep']]) {
        await admin.create(`/api/v1/namespaces/${prod}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: app!, round: tag } }, data: { a: 'b' } });
      }
      const bulk = r() < 0.5;
      const held: HeldCase = bulk
        ? { method: 'DELETE', path: `/api/v1/namespaces/${prod}/configmaps?labelSelector=${encodeURIComponent(`app=temp,round=${tag}`)}`, guards: [`${tag}-t1`, `${tag}-t2`] }
        : { method: 'DELETE', path: `/api/v1/namespaces/${prod}/configmaps/${tag}-t1`, guards: [`${tag}-t1`] };
      const first = await send({ method: held.method, path: held.path, headers: { accept: 'application/json' } });
      const name = heldName(first);
      if (!name) {
        failures.push(`#${i} not held: ${held.method} ${held.path}: ${first.slice(0, 300)}`);
        continue;
      }
      await approveAs('alice', name);
      for (const alt of alterations(r, held)) {
        const headers: Record<string, string> = { accept: 'application/json', ...(alt.body ? { 'content-type': 'application/json' } : {}) };
        const answer = await send({ method: alt.method, path: alt.path, headers, ...(alt.body ? { body: alt.body } : {}) });
        const a = await admin.get<{ status?: { usesConsumed?: number } }>(`/apis/airlock.dev/v1alpha1/approvals/${name}`);
        if ((a.status?.usesConsumed ?? 0) !== 0) failures.push(`#${i} ${alt.method} ${alt.path} ${alt.body ?? ''} consumed ${name}: ${answer.slice(0, 200)}`);
        for (const g of [...held.guards, `${tag}-k`]) {
          const still = await admin.get(`/api/v1/namespaces/${prod}/configmaps/${g}`).then(() => true, () => false);
          if (!still) failures.push(`#${i} ${alt.method} ${alt.path} ${alt.body ?? ''} deleted ${g}`);
        }
        if (failures.length) break;
      }
      // The exact retry passes, once, and removes exactly what was approved.
      const done = await send({ method: held.method, path: held.path, headers: { accept: 'application/json' } });
      if (!done.startsWith('200')) failures.push(`#${i} exact retry of ${held.path} answered ${done.slice(0, 200)}`);
      const keep = await admin.get(`/api/v1/namespaces/${prod}/configmaps/${tag}-k`).then(() => true, () => false);
      if (!keep) failures.push(`#${i} the approved request deleted ${tag}-k as well`);
      const again = await send({ method: held.method, path: held.path, headers: { accept: 'application/json' } });
      if (again.startsWith('200') && bulk === false) failures.push(`#${i} the Approval was used twice`);
      if (failures.length) break;
    }
    // Identity probes: whatever is asked about the agent's identity, the proxied token is never in the answer.
    for (let i = 0; i < 60; i++) {
      const kind = pick(r, ['SelfSubjectReview', 'SelfSubjectRulesReview', 'SelfSubjectAccessReview']);
      const group = kind === 'SelfSubjectReview' ? 'authentication.k8s.io' : 'authorization.k8s.io';
      const resource = kind.toLowerCase() + 's';
      const spec = kind === 'SelfSubjectRulesReview' ? { namespace: ns } : kind === 'SelfSubjectAccessReview' ? { resourceAttributes: { verb: 'get', resource: 'secrets', namespace: ns } } : undefined;
      const answer = await send({
        method: 'POST',
        path: `/apis/${group}/v1/${resource}${r() < 0.3 ? '?dryRun=All' : ''}`,
        headers: { accept: pick(r, ACCEPTS.slice(0, 6)), 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: `${group}/v1`, kind, ...(spec ? { spec } : {}) }),
      });
      if (answer.includes('airlock.dev/proxied') || /v1\.\d{10}\.[A-Za-z0-9_-]{22}\./.test(answer)) failures.push(`identity probe ${kind} showed the proxied token: ${answer.slice(0, 300)}`);
    }
    expect(failures).toEqual([]);
  }, Math.max(240_000, APPROVAL_COUNT * 20_000));
});
