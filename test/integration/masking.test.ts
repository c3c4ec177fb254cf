// Masking against a real kube-apiserver: the bytes the API server sends (list, Table, watch, get) are run
// through the masker; the direct admin read still shows the real values.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { clientFor, kubectl, uniqueName } from '../helpers/env.js';
import { createMaskerFactory, Marker, type MaskTarget } from '../../src/masking/index.js';
import type { ResolvedMasking } from '../../src/policy/types.js';
import type { KubeClient } from '../../src/k8s/client.js';

const KEY = Buffer.alloc(32, 3);
const factory = createMaskerFactory({ key: KEY });
const marker = new Marker(KEY);
const rules: ResolvedMasking = { secrets: true, configMaps: true, logs: true, envNamePatterns: [/^APP_/], patterns: [/INTERNAL-[0-9]{6}/] };
const ns = uniqueName('mask');
const secretValue = (i: number) => `s3cr3t-value-${i}-${ns}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const decode = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

let admin: KubeClient;

/** Raw GET: returns the response stream (nothing parsed). */
function rawGet(path: string, query: Record<string, string>, accept = 'application/json'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = admin.rawRequest('GET', path, { query, headers: { Accept: accept }, timeoutMs: 30000 });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

async function readAll(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function target(res: IncomingMessage, over: Partial<MaskTarget>): MaskTarget {
  return { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'secrets', namespace: ns, watch: false, contentType: String(res.headers['content-type']), ...over };
}

/** Streams a real response through the masker in random-sized pieces. */
async function masked(res: IncomingMessage, t: Partial<MaskTarget>): Promise<{ raw: string; out: string }> {
  const raw = await readAll(res);
  const tr = factory.create(target(res, t), rules)!;
  const src = new PassThrough();
  const outP = readAll(src.pipe(tr));
  const buf = Buffer.from(raw);
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(Math.random() * 4096);
    src.write(buf.subarray(i, i + n));
    i += n;
  }
  src.end();
  return { raw, out: await outP };
}

beforeAll(async () => {
  admin = await clientFor('admin');
  await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  // Half of the Secrets through `kubectl apply` (last-applied-configuration holds the data), half created directly.
  const applied = Array.from({ length: 5 }, (_, i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `sec-${i}`, namespace: ns }, data: { password: b64(secretValue(i)) } }));
  const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: applied }) });
  expect(r.code).toBe(0);
  for (let i = 5; i < 10; i++) {
    await admin.create(`/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `sec-${i}` }, stringData: { password: secretValue(i), note: 'INTERNAL-123456' } });
  }
  await admin.create(`/api/v1/namespaces/${ns}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' },
    data: { 'application.yaml': 'db:\n  url: postgres://app:cm-pa55@db:5432/app\n  password: cm-password-1\nlevel: info\n', region: 'eu-west-1' },
  });
  await admin.create(`/api/v1/namespaces/${ns}/podtemplates`, {
    apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: 'tpl' },
    template: { metadata: {}, spec: { containers: [{ name: 'c', image: 'busybox:1.36', env: [{ name: 'APP_KEY', value: 'app-key-value' }, { name: 'MODE', value: 'fast' }] }] } },
  });
}, 60000);

afterAll(async () => {
  await admin.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined);
});

describe('masking responses of a real kube-apiserver', () => {
  it('masks a JSON list of Secrets while the direct admin read shows the real values', async () => {
    const res = await rawGet(`/api/v1/namespaces/${ns}/secrets`, {});
    expect(res.statusCode).toBe(200);
    const { raw, out } = await masked(res, {});
    const direct = JSON.parse(raw) as { items: Array<{ metadata: { name: string; resourceVersion: string }; data: Record<string, string> }> };
    expect(direct.items).toHaveLength(10);
    expect(decode(direct.items.find((s) => s.metadata.name === 'sec-0')!.data.password!)).toBe(secretValue(0));
    const list = JSON.parse(out) as typeof direct & { kind: string; metadata: unknown };
    expect(list.kind).toBe('SecretList');
    expect(list.metadata).toEqual((JSON.parse(raw) as { metadata: unknown }).metadata);
    for (let i = 0; i < 10; i++) {
      const item = list.items.find((s) => s.metadata.name === `sec-${i}`)!;
      const orig = direct.items.find((s) => s.metadata.name === `sec-${i}`)!;
      expect(decode(item.data.password!)).toBe(marker.mark(Buffer.from(secretValue(i))));
      expect(item.metadata.resourceVersion).toBe(orig.metadata.resourceVersion);
      expect(out).not.toContain(secretValue(i));
      expect(out).not.toContain(b64(secretValue(i)));
    }
    // last-applied-configuration of the applied ones is masked inside.
    const la = (list.items[0]!.metadata as { annotations?: Record<string, string> }).annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
    expect(la).toBeDefined();
    expect(decode((JSON.parse(la!) as { data: { password: string } }).data.password)).toBe(marker.mark(Buffer.from(secretValue(0))));
  });

  it('masks the Table form kubectl get -o wide asks for (PartialObjectMetadata rows)', async () => {
    const res = await rawGet(`/api/v1/namespaces/${ns}/secrets`, {}, TABLE);
    const { raw, out } = await masked(res, {});
    expect(raw).toContain(b64(secretValue(0))); // in last-applied-configuration
    const table = JSON.parse(out) as { kind: string; rows: Array<{ cells: unknown[]; object: { kind: string; metadata: { name: string } } }> };
    expect(table.kind).toBe('Table');
    expect(table.rows).toHaveLength(10);
    expect(table.rows[0]!.object.kind).toBe('PartialObjectMetadata');
    for (let i = 0; i < 10; i++) expect(out).not.toContain(b64(secretValue(i)));
    expect(out).toContain(b64(marker.mark(Buffer.from(secretValue(0)))));
    expect(table.rows.find((r) => r.object.metadata.name === 'sec-0')!.cells.slice(0, 3)).toEqual(['sec-0', 'Opaque', 1]);
    // Full objects in rows (includeObject=Object) are masked too.
    const full = await masked(await rawGet(`/api/v1/namespaces/${ns}/secrets`, { includeObject: 'Object' }, TABLE), {});
    expect(full.raw).toContain(b64(secretValue(7)));
    expect(full.out).not.toContain(b64(secretValue(7)));
    expect(full.out).toContain(b64(marker.mark(Buffer.from(secretValue(7)))));
  });

  it('masks a live watch stream event by event (JSON and Table watch)', async () => {
    for (const accept of ['application/json', TABLE]) {
      const res = await rawGet(`/api/v1/namespaces/${ns}/secrets`, { watch: 'true', resourceVersion: '0' }, accept);
      expect(res.statusCode).toBe(200);
      const tr = factory.create(target(res, { verb: 'watch', watch: true }), rules)!;
      res.pipe(tr);
      let buf = '';
      const events: Array<{ type: string; object: Record<string, unknown> }> = [];
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${events.length} watch events`)), 15000);
        tr.on('data', (c: Buffer) => {
          buf += c.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
          }
          if (events.length >= 10) resolve();
        });
        tr.on('error', reject);
      }).finally(() => clearTimeout(timer));
      res.destroy();
      expect(events.every((e) => e.type === 'ADDED')).toBe(true);
      const text = JSON.stringify(events);
      for (let i = 0; i < 10; i++) expect(text).not.toContain(b64(secretValue(i)));
      if (accept === 'application/json') {
        const e = events.find((x) => (x.object.metadata as { name: string }).name === 'sec-3')!;
        expect(decode((e.object.data as { password: string }).password)).toBe(marker.mark(Buffer.from(secretValue(3))));
      } else {
        expect(events[0]!.object.kind).toBe('Table');
      }
    }
  });

  it('masks a single Secret, ConfigMap credentials, user patterns and pod template env', async () => {
    const sec = await masked(await rawGet(`/api/v1/namespaces/${ns}/secrets/sec-6`, {}), { verb: 'get', name: 'sec-6' });
    const s = JSON.parse(sec.out) as { data: Record<string, string> };
    expect(decode(s.data.password!)).toBe(marker.mark(Buffer.from(secretValue(6))));
    expect(decode(s.data.note!)).toBe(marker.mark(Buffer.from('INTERNAL-123456')));

    const cm = await masked(await rawGet(`/api/v1/namespaces/${ns}/configmaps/app-config`, {}), { verb: 'get', resource: 'configmaps', name: 'app-config' });
    const c = JSON.parse(cm.out) as { data: Record<string, string> };
    expect(cm.raw).toContain('cm-password-1');
    expect(c.data['application.yaml']).not.toContain('cm-password-1');
    expect(c.data['application.yaml']).not.toContain('cm-pa55');
    expect(c.data['application.yaml']).toContain('level: info');
    expect(c.data.region).toBe('eu-west-1');

    const tpl = await masked(await rawGet(`/api/v1/namespaces/${ns}/podtemplates/tpl`, {}), { verb: 'get', resource: 'podtemplates', name: 'tpl' });
    expect(tpl.raw).toContain('app-key-value');
    expect(tpl.out).not.toContain('app-key-value');
    expect(tpl.out).toContain('"value":"fast"');

    // The direct read is untouched.
    const direct = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/app-config`);
    expect(direct.data['application.yaml']).toContain('cm-password-1');
  });
});
