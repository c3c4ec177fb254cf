// Value-aware masking: the values a unit protects are scrubbed wherever else they appear in it (labels,
// annotations, status, messages, Table cells), in every spelling, and per-response known values too.
import { describe, expect, it } from '@jest/globals';
import { createMaskerFactory, Marker, MARKER_PREFIX, protectedValuesOf, scrubKnownValues, type MaskTarget } from '../../../src/masking/index.js';
import { KEY, b64, rules, through } from './helpers.js';

const factory = createMaskerFactory({ key: KEY });
const marker = new Marker(KEY);
const m = (v: string) => marker.mark(v);

function target(over: Partial<MaskTarget> = {}): MaskTarget {
  return { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'secrets', namespace: 'default', watch: false, contentType: 'application/json', ...over };
}

async function maskJson(obj: unknown, t: Partial<MaskTarget> = {}, r = rules()): Promise<string> {
  return through(factory.create(target(t), r)!, [JSON.stringify(obj)]);
}

const TOKEN = 'tok-3f9a1c77e2b04d5a';

describe('a Secret\'s own values are scrubbed everywhere in it', () => {
  const secret = {
    kind: 'Secret', apiVersion: 'v1',
    metadata: {
      name: 'api', namespace: 'default',
      labels: { app: 'api', leaked: `x-${TOKEN}` },
      annotations: { note: `rotated to ${TOKEN}`, b64: `encoded ${b64(TOKEN)}`, url: `value ${Buffer.from(TOKEN).toString('base64url')}` },
    },
    data: { token: b64(TOKEN) },
  };

  it('in annotations (plain, base64, base64url) and labels (whole)', async () => {
    const out = await maskJson(secret);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(b64(TOKEN).replace(/=+$/, ''));
    const o = JSON.parse(out);
    expect(o.metadata.annotations.note).toBe(`rotated to ${m(TOKEN)}`);
    expect(o.metadata.annotations.b64).toBe(`encoded ${m(TOKEN)}`);
    expect(o.metadata.annotations.url).toBe(`value ${m(TOKEN)}`);
    expect(o.metadata.labels).toEqual({ app: 'api', leaked: m(`x-${TOKEN}`) });
    expect(o.metadata.name).toBe('api');
  });

  it('as a piece of a larger base64 string, at every alignment', async () => {
    for (const prefix of ['', 'a', 'ab', 'abc']) {
      const blob = Buffer.from(`{"auths":{"r":{"auth":"${prefix}user:${TOKEN}"}}}`).toString('base64');
      const o = JSON.parse(await maskJson({ ...secret, metadata: { ...secret.metadata, labels: {}, annotations: { blob } } }));
      expect(o.metadata.annotations.blob).toContain(MARKER_PREFIX);
      const rest = o.metadata.annotations.blob.split(/airlock-masked:sha256:[0-9a-f]{8}/);
      for (const part of rest) expect(Buffer.from(part, 'base64').toString('latin1')).not.toContain(TOKEN.slice(2, -2));
    }
  });

  it('in JSON- and Go-escaped form inside other text', async () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
    const s = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'k', annotations: { err: `invalid: "${JSON.stringify(pem).slice(1, -1)}"` } }, data: { 'tls.key': b64(pem) } };
    const out = await maskJson(s);
    expect(out).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
  });

  it('in a watch event and in every item of a list, per item', async () => {
    const ev = { type: 'MODIFIED', object: secret };
    const w = await through(factory.create(target({ watch: true, verb: 'watch' }), rules())!, [JSON.stringify(ev) + '\n']);
    expect(w).not.toContain(TOKEN);
    const list = { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [{ ...secret, kind: undefined }, { metadata: { name: 'other', annotations: { n: 'plain note' } }, data: { k: b64('another-value') } }] };
    const l = JSON.parse(await maskJson(list, { verb: 'list' }));
    expect(JSON.stringify(l)).not.toContain(TOKEN);
    expect(l.items[1].metadata.annotations.n).toBe('plain note');
  });

  it('leaves short values alone (below the 6-character threshold)', async () => {
    const s = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'short', annotations: { a: 'uses abc here' } }, data: { k: b64('abc') } };
    expect(JSON.parse(await maskJson(s)).metadata.annotations.a).toBe('uses abc here');
  });
});

describe('known values per response (MaskTarget.knownValues)', () => {
  it('scrubs an upstream error Status quoting the real value', async () => {
    const status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `Secret "api" is invalid: data[token]: Invalid value: "${TOKEN}": bad`, reason: 'Invalid', code: 422 };
    const out = await maskJson(status, { verb: 'patch', knownValues: [TOKEN] });
    expect(out).not.toContain(TOKEN);
    expect(JSON.parse(out).message).toBe(`Secret "api" is invalid: data[token]: Invalid value: "${m(TOKEN)}": bad`);
  });

  it('is honoured by maskValue and by the log masker', async () => {
    const v = factory.maskValue!({ kind: 'Status', message: `x ${TOKEN}` }, { verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'pods', watch: false, knownValues: [TOKEN] }, rules()) as { message: string };
    expect(v.message).toBe(`x ${m(TOKEN)}`);
    const log = await through(factory.create(target({ resource: 'pods', subresource: 'log', contentType: 'text/plain', knownValues: [TOKEN] }), rules())!, [`using ${TOKEN}\n`]);
    expect(log).toBe(`using ${m(TOKEN)}\n`);
  });

  it('scrubKnownValues scrubs any value with a caller-chosen replacement', () => {
    expect(scrubKnownValues({ a: [`x${b64(TOKEN)}`], b: TOKEN }, [TOKEN], () => 'X')).toEqual({ a: ['xX'], b: 'X' });
  });
});

describe('credential shapes beyond Secrets', () => {
  it('credential-named fields of a custom resource, and their values elsewhere in it', async () => {
    const cr = {
      apiVersion: 'db.example.com/v1', kind: 'Database', metadata: { name: 'db', annotations: { last: 'pw was S3cretPassw0rd' } },
      spec: { password: 'S3cretPassw0rd', apiToken: 'at-998877665544', auth: { clientSecret: 'cs-112233445566', clientId: 'my-client' }, secretName: 'db-creds', passwordSecretRef: { name: 'x', key: 'y' } },
      status: { message: 'connected with cs-112233445566' },
    };
    const o = JSON.parse(await maskJson(cr, { resource: 'databases', apiGroup: 'db.example.com' }));
    expect(o.spec.password).toBe(m('S3cretPassw0rd'));
    expect(o.spec.apiToken).toBe(m('at-998877665544'));
    expect(o.spec.auth.clientSecret).toBe(m('cs-112233445566'));
    expect(o.spec.auth.clientId).toBe('my-client');
    expect(o.spec.secretName).toBe('db-creds');
    expect(o.spec.passwordSecretRef).toEqual({ name: 'x', key: 'y' });
    expect(o.status.message).toBe(`connected with ${m('cs-112233445566')}`);
    expect(o.metadata.annotations.last).toBe(`pw was ${m('S3cretPassw0rd')}`);
  });

  it('a kubeconfig in a ConfigMap value: token, password, client-key-data scrubbed, YAML kept', async () => {
    const keyPem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----\n';
    const kubeconfig = [
      'apiVersion: v1', 'kind: Config',
      'clusters:', '- name: c', '  cluster:', '    server: https://k8s.example.com',
      'users:',
      '- name: a', '  user:', '    token: kc-token-0123456789abcdef',
      '- name: b', '  user:', '    username: admin', '    password: "kc-pass-9876"',
      '- name: c', '  user:', `    client-key-data: ${b64(keyPem)}`,
      '',
    ].join('\n');
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'kc', annotations: { copy: 'token kc-token-0123456789abcdef' } }, data: { kubeconfig } };
    const o = JSON.parse(await maskJson(cm, { resource: 'configmaps' }));
    const out: string = o.data.kubeconfig;
    for (const leak of ['kc-token-0123456789abcdef', 'kc-pass-9876', b64(keyPem), 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun']) expect(JSON.stringify(o)).not.toContain(leak);
    expect(out).toContain('server: https://k8s.example.com');
    expect(out).toContain('    username: admin');
    expect(out).toContain(`    token: ${m('kc-token-0123456789abcdef')}`);
    expect(out).toContain(`    client-key-data: ${m(b64(keyPem))}`);
    expect(o.metadata.annotations.copy).toBe(`token ${m('kc-token-0123456789abcdef')}`);
  });

  it('a JSON document in an annotation: its credential values are scrubbed in place', async () => {
    const doc = JSON.stringify({ db: { host: 'db', pass: 'jsonpass-4455' }, note: 'x' });
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'j', annotations: { 'example.com/config': doc } }, data: { plain: 'hello' } };
    const o = JSON.parse(await maskJson(cm, { resource: 'configmaps' }));
    expect(o.metadata.annotations['example.com/config']).toBe(doc.replace('jsonpass-4455', m('jsonpass-4455')));
  });

  it('env-like lists anywhere: Tekton steps, Argo containers, arbitrary CRs; valueFrom intact', async () => {
    const env = [
      { name: 'DB_PASS', value: 'dbpass-value-1' }, { name: 'MYSQL_PWD', value: 'mysql-pwd-value' }, { name: 'API_KEY', value: 'apikey-value-1' },
      { name: 'GIT_AUTH', value: 'auth-value-123' }, { name: 'SESSION_TOKEN_X', value: 'token-value-12' }, { name: 'LOG_LEVEL', value: 'debug' },
      { name: 'TOKEN_PATH', value: '/var/run/token' }, { name: 'ACCESS_KEY_ID', value: 'key-id-visible' },
      { name: 'FROM', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ];
    const objs = [
      { apiVersion: 'tekton.dev/v1', kind: 'Task', metadata: { name: 't' }, spec: { steps: [{ name: 's', image: 'alpine', env }] } },
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { name: 'w' }, spec: { templates: [{ name: 'x', container: { image: 'alpine', env } }] } },
      { apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' }, spec: { whatever: { vars: env } } },
    ];
    for (const obj of objs) {
      const out = await maskJson(obj, { resource: 'things', apiGroup: 'example.com' });
      for (const leak of ['dbpass-value-1', 'mysql-pwd-value', 'apikey-value-1', 'auth-value-123', 'token-value-12']) expect(out).not.toContain(leak);
      expect(out).toContain('"value":"debug"');
      expect(out).toContain('"value":"/var/run/token"');
      expect(out).toContain('"value":"key-id-visible"');
      expect(out).toContain('"valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}');
    }
  });

  it('URL userinfo, an empty user and an unencoded @ in the password', async () => {
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'u' }, data: { a: 'redis://:r3disPass@cache:6379', b: 'postgres://app:p@ss@db/app' } };
    const o = JSON.parse(await maskJson(cm, { resource: 'configmaps' }));
    expect(o.data.a).toBe(`redis://:${m('r3disPass')}@cache:6379`);
    expect(o.data.b).toBe(`postgres://app:${m('p@ss')}@db/app`);
  });
});

describe('Tables', () => {
  const secretObj = (name: string, value: string) => ({ kind: 'Secret', apiVersion: 'v1', metadata: { name, namespace: 'default', labels: { l: 'x' } }, data: { password: b64(value) } });
  const table = (rows: unknown[]) => ({
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '1' },
    columnDefinitions: [{ name: 'Name', type: 'string' }, { name: 'Password', type: 'string' }, { name: 'Note', type: 'string' }],
    rows,
  });
  const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

  it('scrubs cells with the row object\'s values and masks credential columns whole', async () => {
    const t = table([{ cells: ['a', 'printed-pw', 'has value-of-a inside'], object: secretObj('a', 'value-of-a') }]);
    const o = JSON.parse(await maskJson(t, { verb: 'list', contentType: TABLE }));
    expect(o.rows[0].cells).toEqual(['a', m('printed-pw'), `has ${m('value-of-a')} inside`]);
  });

  it('reduces row.object to what the agent asked for', async () => {
    const t = table([{ cells: ['a', 'x', 'value-of-a'], object: secretObj('a', 'value-of-a') }]);
    const meta = JSON.parse(await maskJson(t, { verb: 'list', contentType: TABLE, tableIncludeObject: 'Metadata' }));
    expect(meta.rows[0].object).toEqual({ apiVersion: 'meta.k8s.io/v1', kind: 'PartialObjectMetadata', metadata: { name: 'a', namespace: 'default', labels: { l: 'x' } } });
    expect(meta.rows[0].cells[2]).toBe(m('value-of-a'));
    const none = JSON.parse(await maskJson(t, { verb: 'list', contentType: TABLE, tableIncludeObject: 'None' }));
    expect(none.rows[0]).toEqual({ cells: ['a', m('x'), m('value-of-a')] });
    const full = JSON.parse(await maskJson(t, { verb: 'list', contentType: TABLE, tableIncludeObject: 'Object' }));
    expect(Buffer.from(full.rows[0].object.data.password, 'base64').toString()).toBe(m('value-of-a'));
    const asIs = JSON.parse(await maskJson(t, { verb: 'list', contentType: TABLE }));
    expect(asIs.rows[0].object.kind).toBe('Secret');
  });

  it('maskValue on a whole Table reduces rows too', () => {
    const t = table([{ cells: ['a', 'x', 'y'], object: secretObj('a', 'value-of-a') }]);
    const out = factory.maskValue!(t, { verb: 'list', apiGroup: '', apiVersion: 'v1', resource: 'secrets', watch: false, tableIncludeObject: 'None' }, rules()) as { rows: Array<Record<string, unknown>> };
    expect(out.rows[0]!.object).toBeUndefined();
  });
});

describe('protectedValuesOf', () => {
  it('lists the values an object protects', () => {
    const pod = {
      kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', env: [{ name: 'DB_PASSWORD', value: 'pod-db-password' }, { name: 'MODE', value: 'fast-mode' }], args: ['--url=https://u:url-pass-1@h', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'] }] },
    };
    const v = protectedValuesOf(pod, rules());
    expect(v).toEqual(expect.arrayContaining(['pod-db-password', 'url-pass-1', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789']));
    expect(v).not.toContain('fast-mode');
    const secret = { kind: 'Secret', apiVersion: 'v1', metadata: { name: 's' }, data: { a: b64('secret-one'), short: b64('abc') }, stringData: { b: 'secret-two' } };
    expect(protectedValuesOf(secret, rules()).sort()).toEqual(['secret-one', 'secret-two']);
    expect(protectedValuesOf(secret, rules({ secrets: false }))).toEqual([]);
  });

  it('follows YAML aliases without blowing up (alias bomb)', () => {
    const lines = ['a: &a ["password: x1234567"]'];
    for (let i = 0; i < 20; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'bomb' }, data: { 'app.yaml': lines.join('\n') + '\ntoken: bomb-token-123\n' } };
    expect(protectedValuesOf(cm, rules())).toEqual(expect.arrayContaining(['bomb-token-123']));
  });
});
