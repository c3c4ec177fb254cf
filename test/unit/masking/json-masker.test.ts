import { describe, expect, it } from '@jest/globals';
import { createMaskerFactory, JsonMaskStream, Marker, isMarker, MARKER_PREFIX, type MaskTarget } from '../../../src/masking/index.js';
import { KEY, b64, rules, split, through } from './helpers.js';

const factory = createMaskerFactory({ key: KEY });
const marker = new Marker(KEY);

function target(over: Partial<MaskTarget> = {}): MaskTarget {
  return { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'secrets', namespace: 'default', watch: false, contentType: 'application/json', ...over };
}

async function mask(input: string | Buffer, t: Partial<MaskTarget> = {}, chunks: 'whole' | 'bytes' | number = 'whole', r = rules()): Promise<string> {
  const tr = factory.create(target(t), r);
  if (!tr) throw new Error('no transform');
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  return through(tr, chunks === 'whole' ? [buf] : split(buf, chunks));
}

function secret(name: string, data: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { name, namespace: 'default', resourceVersion: '123', uid: 'u-' + name, annotations: {} },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    type: 'Opaque',
    ...extra,
  };
}

const decode = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe('JSON masker: Secrets', () => {
  it('masks data of a single Secret with a base64 marker and keeps metadata untouched', async () => {
    const s: Record<string, unknown> & { metadata?: unknown } = { kind: 'Secret', apiVersion: 'v1', ...secret('db', { password: 'hunter2', user: 'admin' }), stringData: { token: 'abc' } };
    const out = JSON.parse(await mask(JSON.stringify(s)));
    expect(decode(out.data.password)).toBe(marker.mark(Buffer.from('hunter2')));
    expect(isMarker(decode(out.data.user))).toBe(true);
    expect(out.stringData.token).toBe(marker.mark(Buffer.from('abc')));
    expect(out.metadata).toEqual(s.metadata);
    expect(out.type).toBe('Opaque');
    expect(JSON.stringify(out)).not.toContain(b64('hunter2'));
  });

  it('maps equal values to equal markers and different values to different ones', async () => {
    const s = { kind: 'Secret', apiVersion: 'v1', ...secret('x', { a: 'same', b: 'same', c: 'other' }) };
    const out = JSON.parse(await mask(JSON.stringify(s)));
    expect(out.data.a).toBe(out.data.b);
    expect(out.data.a).not.toBe(out.data.c);
    // Keyed: another key gives another marker.
    const other = createMaskerFactory({ key: Buffer.alloc(32, 9) });
    const tr = other.create(target(), rules())!;
    const out2 = JSON.parse(await through(tr, [JSON.stringify(s)]));
    expect(out2.data.a).not.toBe(out.data.a);
  });

  it('masks every item of a SecretList (items carry no kind) and the list stays valid', async () => {
    const list = {
      kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '999' },
      items: Array.from({ length: 5 }, (_, i) => secret(`s${i}`, { key: `value-${i}` })),
    };
    const out = JSON.parse(await mask(JSON.stringify(list), { verb: 'list' }));
    expect(out.metadata).toEqual({ resourceVersion: '999' });
    expect(out.items).toHaveLength(5);
    out.items.forEach((it: { data: { key: string }; metadata: unknown }, i: number) => {
      expect(decode(it.data.key)).toBe(marker.mark(Buffer.from(`value-${i}`)));
      expect(it.metadata).toEqual(list.items[i]!.metadata);
    });
  });

  it('masks Secrets nested in a v1 List whatever resource was asked for', async () => {
    const list = {
      kind: 'List', apiVersion: 'v1', metadata: {},
      items: [
        { kind: 'Secret', apiVersion: 'v1', ...secret('n', { k: 'nested-secret' }) },
        { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { plain: 'hello' } },
        { kind: 'List', apiVersion: 'v1', items: [{ kind: 'Secret', apiVersion: 'v1', ...secret('deep', { k: 'deeper' }) }] },
      ],
    };
    const out = await mask(JSON.stringify(list), { resource: 'widgets', apiGroup: 'example.com' });
    const o = JSON.parse(out);
    expect(decode(o.items[0].data.k)).toBe(marker.mark(Buffer.from('nested-secret')));
    expect(o.items[1].data.plain).toBe('hello');
    expect(decode(o.items[2].items[0].data.k)).toBe(marker.mark(Buffer.from('deeper')));
    expect(out).not.toContain(b64('nested-secret'));
  });

  it('masks watch events, one per line, and keeps the line framing', async () => {
    const events = [
      { type: 'ADDED', object: { kind: 'Secret', apiVersion: 'v1', ...secret('a', { p: 'one' }) } },
      { type: 'MODIFIED', object: { kind: 'Secret', apiVersion: 'v1', ...secret('a', { p: 'two' }) } },
      { type: 'BOOKMARK', object: { kind: 'Secret', apiVersion: 'v1', metadata: { resourceVersion: '77' } } },
    ];
    const text = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const out = await mask(text, { verb: 'watch', watch: true, contentType: 'application/json;stream=watch' });
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0].type).toBe('ADDED');
    expect(decode(lines[0].object.data.p)).toBe(marker.mark(Buffer.from('one')));
    expect(decode(lines[1].object.data.p)).toBe(marker.mark(Buffer.from('two')));
    expect(lines[2]).toEqual(events[2]);
  });

  it('masks Table rows: full objects and PartialObjectMetadata with last-applied-configuration', async () => {
    const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 't1', namespace: 'default' }, data: { password: b64('applied-secret') } });
    const table = {
      kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '5' },
      columnDefinitions: [{ name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 }],
      rows: [
        { cells: ['t1', 'Opaque', 1, '5m'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 't1', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied + '\n' } } } },
        { cells: ['t2', 'Opaque', 1, '5m'], object: { kind: 'Secret', apiVersion: 'v1', ...secret('t2', { password: 'row-secret' }) } },
      ],
    };
    const out = await mask(JSON.stringify(table), { verb: 'list', contentType: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    const o = JSON.parse(out);
    expect(o.columnDefinitions).toEqual(table.columnDefinitions);
    expect(o.rows[0].cells).toEqual(['t1', 'Opaque', 1, '5m']);
    const inner = JSON.parse(o.rows[0].object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
    expect(decode(inner.data.password)).toBe(marker.mark(Buffer.from('applied-secret')));
    expect(inner.metadata).toEqual({ name: 't1', namespace: 'default' });
    expect(decode(o.rows[1].object.data.password)).toBe(marker.mark(Buffer.from('row-secret')));
    expect(out).not.toContain(b64('applied-secret'));
    expect(out).not.toContain(b64('row-secret'));
  });

  it('leaves a non-secret last-applied-configuration byte-identical', async () => {
    const applied = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } }) + '\n';
    const svc = { kind: 'Service', apiVersion: 'v1', metadata: { name: 'svc', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } }, spec: { ports: [{ port: 80 }] } };
    const out = JSON.parse(await mask(JSON.stringify(svc), { resource: 'services' }));
    expect(out).toEqual(svc);
  });

  it('keeps integers beyond 2^53 and decimals exactly as sent', async () => {
    const text = '{"kind":"Widget","apiVersion":"example.com/v1","metadata":{"name":"w","generation":1},"spec":{"big":12345678901234567890,"f":1.50,"e":1e3}}';
    const out = await mask(text, { resource: 'widgets', apiGroup: 'example.com' });
    expect(out).toContain('"big":12345678901234567890');
    expect(out).toContain('"f":1.50');
    expect(out).toContain('"e":1e3');
  });

  it('does not mask when secrets masking is off, but still masks secret-shaped strings elsewhere', async () => {
    const s = { kind: 'Secret', apiVersion: 'v1', ...secret('db', { password: 'hunter2' }) };
    const out = JSON.parse(await mask(JSON.stringify(s), {}, 'whole', rules({ secrets: false })));
    expect(decode(out.data.password)).toBe('hunter2');
  });
});

describe('JSON masker: ConfigMaps, env, patterns', () => {
  it('masks secret-shaped ConfigMap values and binaryData, leaves plain values', async () => {
    const cm = {
      kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'cfg', resourceVersion: '1', annotations: { note: 'db url postgres://app:s3cr3tpw@db:5432/app' } },
      data: {
        'app.properties': 'log.level=info\ndb.password=pa55word!\nurl=https://example.com',
        aws: 'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
        plain: 'hello world',
      },
      binaryData: { 'creds.txt': b64('token: ghp_abcdefghijklmnopqrstuvwxyz0123456789') },
    };
    const out = JSON.parse(await mask(JSON.stringify(cm), { resource: 'configmaps' }));
    expect(out.data.plain).toBe('hello world');
    expect(out.data['app.properties']).toContain('log.level=info');
    expect(out.data['app.properties']).toContain('db.password=' + MARKER_PREFIX);
    expect(out.data['app.properties']).not.toContain('pa55word');
    expect(out.data.aws).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(decode(out.binaryData['creds.txt'])).not.toContain('ghp_');
    expect(out.metadata.annotations.note).not.toContain('s3cr3tpw');
    expect(out.metadata.annotations.note).toContain('postgres://app:' + MARKER_PREFIX);
    expect(out.metadata.name).toBe('cfg');
  });

  it('masks ConfigMap values whose keys are credential names (they become env vars through envFrom)', async () => {
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'env' }, data: { DB_PASSWORD: 'plain-looking', LOG_LEVEL: 'debug', EMPTY_SECRET: '' } };
    const out = JSON.parse(await mask(JSON.stringify(cm), { resource: 'configmaps' }));
    expect(out.data.DB_PASSWORD).toBe(marker.mark('plain-looking'));
    expect(out.data.LOG_LEVEL).toBe('debug');
    expect(out.data.EMPTY_SECRET).toBe('');
  });

  it('masks env values by name pattern and by value shape in Pods and every pod template', async () => {
    const container = (n: string) => ({
      name: n, image: 'nginx:1.27',
      env: [
        { name: 'DB_PASSWORD', value: 'plain-looking' },
        { name: 'MY_CUSTOM', value: 'custom-value' },
        { name: 'LOG_LEVEL', value: 'debug' },
        { name: 'GH', value: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789' },
        { name: 'FROM_REF', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      ],
    });
    const podSpec = { containers: [container('c')], initContainers: [container('i')] };
    const objs: Array<[string, string, Record<string, unknown>]> = [
      ['pods', 'Pod', { spec: podSpec }],
      ['deployments', 'Deployment', { spec: { template: { spec: podSpec } } }],
      ['cronjobs', 'CronJob', { spec: { jobTemplate: { spec: { template: { spec: podSpec } } } } }],
      ['podtemplates', 'PodTemplate', { template: { spec: podSpec } }],
    ];
    for (const [resource, kind, body] of objs) {
      const obj = { kind, apiVersion: 'v1', metadata: { name: 'x' }, ...body };
      const out = await mask(JSON.stringify(obj), { resource }, 'whole', rules({ envNamePatterns: [/^MY_/] }));
      expect(out).not.toContain('plain-looking');
      expect(out).not.toContain('custom-value');
      expect(out).not.toContain('ghp_abc');
      expect(out).toContain('"value":"debug"');
      expect(out).toContain('"secretKeyRef":{"name":"s","key":"k"}');
      expect(out).toContain('"image":"nginx:1.27"');
    }
  });

  it('applies user patterns to strings outside metadata', async () => {
    const obj = { kind: 'Widget', apiVersion: 'example.com/v1', metadata: { name: 'corp-1234' }, spec: { note: 'use corp-1234 and CORPKEY-99887766' } };
    const out = JSON.parse(await mask(JSON.stringify(obj), { resource: 'widgets' }, 'whole', rules({ patterns: [/CORPKEY-\d+/] })));
    expect(out.metadata.name).toBe('corp-1234');
    expect(out.spec.note).toBe(`use corp-1234 and ${marker.mark('CORPKEY-99887766')}`);
  });

  it('masks exact extra values from the provider', async () => {
    const f = createMaskerFactory({ key: KEY, extraValues: () => ['s3cret-from-ref'] });
    const tr = f.create(target({ resource: 'pods' }), rules())!;
    const obj = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, status: { message: 'failed with s3cret-from-ref' } };
    const out = await through(tr, [JSON.stringify(obj)]);
    expect(out).not.toContain('s3cret-from-ref');
  });
});

describe('JSON masker: streaming', () => {
  const list = {
    kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: 'abc' },
    items: Array.from({ length: 20 }, (_, i) => secret(`s${i}`, { password: `pw-${i}-ü€😀`, 'tls.key': `-----BEGIN PRIVATE KEY-----\nMIIE${i}\n-----END PRIVATE KEY-----\n` })),
  };
  const text = JSON.stringify(list, null, 2) + '\n';

  it('gives identical, valid output when fed one byte at a time or in random chunks', async () => {
    const whole = await mask(text, { verb: 'list' });
    const bytes = await mask(text, { verb: 'list' }, 'bytes');
    const random1 = await mask(text, { verb: 'list' }, 12345);
    const random2 = await mask(text, { verb: 'list' }, 99);
    expect(bytes).toBe(whole);
    expect(random1).toBe(whole);
    expect(random2).toBe(whole);
    const o = JSON.parse(whole);
    expect(o.items).toHaveLength(20);
    expect(o.metadata).toEqual(list.metadata);
    expect(whole).not.toContain(b64('pw-0-ü€😀'));
  });

  it('handles a tail after the items array, empty lists and Tables fed byte by byte', async () => {
    const odd = '{ "items" : [ ] , "kind" : "SecretList", "apiVersion":"v1", "metadata": {} }';
    expect(JSON.parse(await mask(odd, { verb: 'list' }, 'bytes'))).toEqual({ items: [], kind: 'SecretList', apiVersion: 'v1', metadata: {} });
    const tailed = JSON.stringify({ apiVersion: 'v1', items: [secret('a', { k: 'tail-secret' })], kind: 'SecretList', metadata: { resourceVersion: '1' } });
    const o = JSON.parse(await mask(tailed, { verb: 'list' }, 'bytes'));
    expect(decode(o.items[0].data.k)).toBe(marker.mark(Buffer.from('tail-secret')));
    expect(o.kind).toBe('SecretList');
    const table = JSON.stringify({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: [], rows: [{ cells: ['a'], object: { kind: 'Secret', apiVersion: 'v1', ...secret('a', { k: 'tbl' }) } }] });
    expect(await mask(table, {}, 'bytes')).toBe(await mask(table));
    expect(await mask('{}', {}, 'bytes')).toBe('{}\n');
  });

  it('handles escaped quotes and backslashes across chunk boundaries', async () => {
    const s = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'q', annotations: { 'a"b\\': 'x\\"}]{["' } }, data: { 'k\\"': b64('v"\\') } };
    const t = JSON.stringify(s);
    const whole = await mask(t);
    expect(await mask(t, {}, 'bytes')).toBe(whole);
    const o = JSON.parse(whole);
    expect(o.metadata).toEqual(s.metadata);
    expect(decode(o.data['k\\"'])).toBe(marker.mark(Buffer.from('v"\\')));
  });

  it('fails the stream on invalid or truncated JSON instead of passing it through', async () => {
    await expect(mask('{"kind":"Secret","data":{"a":"b"')).rejects.toThrow(/truncated/);
    await expect(mask('{"kind":"Secret" "data":1}')).rejects.toThrow(/invalid JSON/);
    await expect(mask('{"items":[{"a":1},}]}', { verb: 'list' })).rejects.toThrow(/invalid JSON/);
  });

  it('refuses a unit larger than the limit', async () => {
    const f = createMaskerFactory({ key: KEY, maxUnitBytes: 1024 });
    const big = JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'b' }, data: { k: 'A'.repeat(5000) } });
    await expect(through(f.create(target(), rules())!, split(Buffer.from(big), 7))).rejects.toThrow(/larger than 1024/);
    // A long list of small items is fine with the same limit.
    const list = JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: Array.from({ length: 200 }, (_, i) => secret(`s${i}`, { k: 'v' })) });
    const out = await through(f.create(target({ verb: 'list' }), rules())!, split(Buffer.from(list), 100));
    expect(JSON.parse(out).items).toHaveLength(200);
  });

  it('refuses content it cannot read and leaves exec streams alone', async () => {
    const tr = factory.create(target({ contentType: 'application/vnd.kubernetes.protobuf' }), rules())!;
    await expect(through(tr, [Buffer.from([0x6b, 0x38, 0x73, 0x00])])).rejects.toThrow(/cannot be masked/);
    expect(factory.needsMasking({ ...target(), resource: 'pods', subresource: 'exec' }, rules())).toBe(false);
    expect(factory.needsMasking({ ...target(), resource: 'pods', subresource: 'log' }, rules({ logs: false }))).toBe(false);
    expect(factory.needsMasking({ ...target(), resource: '' }, rules())).toBe(false);
    expect(factory.needsMasking({ ...target(), resource: 'secrets' }, rules())).toBe(true);
  });
});

describe('JSON masker: whole bodies (maskComplete, the gate\'s path for small answers)', () => {
  function complete(input: string, t: Partial<MaskTarget> = {}, r = rules()): string {
    const tr = factory.create(target(t), r);
    if (!(tr instanceof JsonMaskStream)) throw new Error('not the JSON masker');
    return tr.maskComplete(Buffer.from(input));
  }
  const cases: Array<[string, string, Partial<MaskTarget>]> = [
    ['one Secret', JSON.stringify({ kind: 'Secret', apiVersion: 'v1', ...secret('db', { password: 'hunter2-pw' }), stringData: { token: 'abc-token' } }), {}],
    ['a SecretList, pretty-printed', JSON.stringify({ kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '9' }, items: Array.from({ length: 30 }, (_, i) => secret(`s${i}`, { k: `v-${i}-ü😀` })) }, null, 2) + '\n', { verb: 'list' }],
    ['a tail after items', JSON.stringify({ apiVersion: 'v1', items: [secret('a', { k: 'tail-secret' })], kind: 'SecretList', metadata: {} }), { verb: 'list' }],
    ['a Table', JSON.stringify({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {}, columnDefinitions: [], rows: [{ cells: ['a'], object: { kind: 'Secret', apiVersion: 'v1', ...secret('a', { k: 'tbl-value' }) } }] }), {}],
    ['a ConfigMap with a token-shaped value', JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c' }, data: { url: 'postgres://app:Sup3rS3cret@db:5432/x', plain: 'value' } }), { resource: 'configmaps' }],
    ['escapes', JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'q', annotations: { 'a"b\\': 'x\\"}]{["' } }, data: { 'k\\"': b64('v"\\') } }), {}],
    ['an empty object', '{}', {}],
    ['a Status', JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'nope', code: 404 }), {}],
  ];

  it.each(cases)('gives the stream\'s output byte for byte: %s', async (_name, input, t) => {
    expect(complete(input, t)).toBe(await mask(input, t));
    expect(complete(input, t)).toBe(await mask(input, t, 7));
  });

  it('fails where the stream fails, and never returns part of the input', () => {
    expect(() => complete('{"kind":"Secret","data":{"a":"b"')).toThrow(/truncated/);
    expect(() => complete('{"kind":"Secret" "data":1}')).toThrow(/invalid JSON/);
    expect(() => complete('{"items":[{"a":1},}]}', { verb: 'list' })).toThrow(/invalid JSON/);
    const f = createMaskerFactory({ key: KEY, maxResponseBytes: 100 });
    const tr = f.create(target(), rules()) as JsonMaskStream;
    expect(() => tr.maskComplete(Buffer.from(JSON.stringify({ kind: 'Secret', data: { k: 'A'.repeat(200) } })))).toThrow(/larger than 100/);
  });
});

describe('maskValue (parsed bodies, e.g. a request body before recording)', () => {
  it('masks a Secret an agent sends, with the same markers as responses', () => {
    const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'n' }, data: { k: b64('sent') }, stringData: { s: 'sent' } };
    const out = factory.maskValue!(body, { verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'secrets', watch: false }, rules()) as typeof body;
    expect(decode(out.data.k)).toBe(marker.mark(Buffer.from('sent')));
    expect(out.stringData.s).toBe(marker.mark(Buffer.from('sent')));
    expect(out.metadata).toEqual({ name: 'n' });
  });
});

describe('JSON masker: hostile content', () => {
  it('masks a custom object that carries its own top-level items array (streamed like a list)', async () => {
    const obj = {
      apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' },
      items: [{ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'x' }, data: { k: b64('smuggled') } }, { note: 'password=hunter2' }],
      spec: { url: 'https://u:p4ssw0rd@example.com' },
    };
    const out = await mask(JSON.stringify(obj), { resource: 'widgets', apiGroup: 'example.com' }, 'bytes');
    expect(out).not.toContain(b64('smuggled'));
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('p4ssw0rd');
    expect(JSON.parse(out).metadata).toEqual({ name: 'w' });
  });

  it('masks a Secret manifest embedded in a custom resource', async () => {
    const cr = { apiVersion: 'example.com/v1', kind: 'Bundle', metadata: { name: 'b' }, spec: { resources: [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'inner' }, data: { k: b64('embedded-value') }, stringData: { s: 'embedded-plain' } }] } };
    const out = await mask(JSON.stringify(cr), { resource: 'bundles', apiGroup: 'example.com' });
    expect(out).not.toContain(b64('embedded-value'));
    expect(out).not.toContain('embedded-plain');
    expect(JSON.parse(out).spec.resources[0].metadata).toEqual({ name: 'inner' });
  });

  it('fails closed (an error, not a crash or a pass-through) on absurdly deep nesting', async () => {
    const deep = '{"kind":"Widget","spec":' + '['.repeat(200000) + ']'.repeat(200000) + '}';
    await expect(mask(deep, { resource: 'widgets' })).rejects.toThrow(/nests deeper than 200 levels/);
    // Just past the limit is refused the same way; just within it is masked normally.
    const nested = (n: number): string => '{"kind":"Widget","spec":' + '['.repeat(n) + ']'.repeat(n) + '}';
    await expect(mask(nested(201), { resource: 'widgets' })).rejects.toThrow(/nests deeper/);
    expect(JSON.parse(await mask(nested(150), { resource: 'widgets' })).kind).toBe('Widget');
  });

  it('does not let key names or escapes hide a Secret value', async () => {
    const text = '{"kind":"Secret","apiVersion":"v1","metadata":{"name":"e"},"data":{"\\u0070assword":"' + b64('escaped') + '","k\\"x":"' + b64('quoted') + '"}}';
    const out = await mask(text, {}, 'bytes');
    expect(out).not.toContain(b64('escaped'));
    expect(out).not.toContain(b64('quoted'));
  });
});
