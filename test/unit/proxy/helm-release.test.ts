// Helm release records: the agent's view masks the secrets inside the record and stays a valid record;
// a record written back with the view's markers gets its real values again; anything that would reveal
// or lose a value is refused.
import { describe, expect, it } from '@jest/globals';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createMaskerFactory, decodeRelease, encodeRelease } from '../../../src/masking/index.js';
import { parseRequestInfo } from '../../../src/proxy/request-info.js';
import { restoreReleaseBody, restoreReleaseWrite } from '../../../src/proxy/helm-release-writes.js';
import type { ProbeContext } from '../../../src/proxy/dryrun.js';
import { KEY, rules } from '../masking/helpers.js';

type Obj = Record<string, unknown>;
const PASSWORD = 'S3cretValue123';
const TOKEN = 'tok-9f8e7d6c5b4a';

function manifest(password: string): string {
  const b64 = Buffer.from(password).toString('base64');
  return [
    '',
    '# Source: app/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-creds\ntype: Opaque\ndata:\n  password: ' + b64 + '\n',
    '\n# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-cm\ndata:\n  mode: fast\n',
    '\n# Source: app/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        env:\n        - name: API_TOKEN\n          value: ' + TOKEN + '\n',
  ].join('---');
}

function release(version: number, password = PASSWORD): Obj {
  return {
    name: 'app',
    namespace: 'demo',
    version,
    info: { status: 'deployed', notes: `log in with ${password}` },
    config: { password, replicas: 2 },
    chart: { metadata: { name: 'app', version: '0.1.0' }, values: { password: '', image: 'nginx' }, templates: [{ name: 'templates/secret.yaml', data: Buffer.from('password: {{ .Values.password | b64enc }}').toString('base64') }] },
    manifest: manifest(password),
  };
}

function recordSecret(rel: Obj, rv = '10'): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.app.v${String(rel.version)}`, namespace: 'demo', resourceVersion: rv, labels: { owner: 'helm', name: 'app', version: String(rel.version) } },
    data: { release: encodeRelease(rel) },
  };
}

function payloadOf(secret: Obj): Obj {
  const inner = Buffer.from((secret.data as Obj).release as string, 'base64').toString('latin1');
  return JSON.parse(gunzipSync(Buffer.from(inner, 'base64')).toString('utf8')) as Obj;
}

const masker = createMaskerFactory({ key: KEY, markers: 'unlinkable' });
const agentView = (secret: Obj): Obj => masker.maskValue!(structuredClone(secret), { resource: 'secrets', apiGroup: '', watch: false } as never, rules()) as Obj;

/** A probe whose API server holds `stored` (the release's records) and `live` Secrets. */
function probeWith(stored: Obj[], live: Record<string, Obj> = {}): ProbeContext {
  return {
    user: { username: 'agent', groups: [] },
    identity: {},
    up: {
      json: async (_method: string, target: string) => {
        if (target.includes('labelSelector')) return { status: 200, body: { kind: 'SecretList', items: stored }, headers: {} };
        const name = decodeURIComponent(target.split('/').pop()!);
        return live[name] ? { status: 200, body: live[name], headers: {} } : { status: 404, body: {}, headers: {} };
      },
    },
  } as unknown as ProbeContext;
}

const info = parseRequestInfo('POST', '/api/v1/namespaces/demo/secrets');
/** What a Secret of release "app" that the agent created through the proxy carries. */
const OURS = { 'airlock.dev/agent': 'agent', 'meta.helm.sh/release-name': 'app', 'meta.helm.sh/release-namespace': 'demo' };

describe('the agent view of a Helm release record', () => {
  it('masks the values inside and stays a record Helm can read', () => {
    const seen = agentView(recordSecret(release(1)));
    const text = JSON.stringify(payloadOf(seen));
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(text).not.toContain(TOKEN);
    const rel = payloadOf(seen);
    expect(rel.name).toBe('app');
    expect((rel.config as Obj).replicas).toBe(2);
    expect(rel.manifest).toContain('# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap'); // untouched documents keep their text
    expect((rel.info as Obj).notes).toMatch(/^log in with airlock-masked:sha256:[0-9a-f]{8}$/);
  });

  it('gives every marking its own marker, and the same stored record the same view', () => {
    const a = payloadOf(agentView(recordSecret(release(1))));
    const b = payloadOf(agentView(recordSecret(release(1))));
    expect(a).toEqual(b);
    const markers = JSON.stringify(a).match(/airlock-masked:sha256:[0-9a-f]{8}/g)!;
    expect(new Set(markers).size).toBe(markers.length);
  });

  it('masks a record that is not a readable release whole', () => {
    const bad = recordSecret(release(1));
    (bad.data as Obj).release = Buffer.from(`${PASSWORD}-not-gzip`).toString('base64');
    expect(Buffer.from((agentView(bad).data as Obj).release as string, 'base64').toString()).toMatch(/^airlock-masked:sha256:[0-9a-f]{8}$/);
  });
});

describe('a Helm release record written back', () => {
  it('maps the markers of a view back to the real values (upgrade --reuse-values, superseded, rollback)', async () => {
    const stored = recordSecret(release(1));
    const seen = payloadOf(agentView(stored));
    const written = { ...seen, version: 2, info: { ...(seen.info as Obj), status: 'deployed' } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(written), masker);
    expect('body' in res).toBe(true);
    const out = payloadOf((res as { body: Obj }).body);
    expect((out.config as Obj).password).toBe(PASSWORD);
    expect(out.manifest).toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(out.manifest).toContain(TOKEN);
    expect((out.info as Obj).notes).toBe(`log in with ${PASSWORD}`);
    expect(out.version).toBe(2);
  });

  it('refuses a marker that stands for no value of this release', async () => {
    const stored = recordSecret(release(1));
    const foreign = { ...release(2), config: { password: 'airlock-masked:sha256:0badf00d' } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(foreign), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/stands for no value of this release/);
  });

  it('refuses to move a value where the view would show it', async () => {
    const stored = recordSecret(release(1));
    const seen = payloadOf(agentView(stored));
    const marker = (seen.config as Obj).password as string;
    const moved = { ...seen, version: 2, config: { replicas: 2, note: marker }, manifest: '', info: { status: 'deployed' } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(moved), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/where the record shows it unmasked/);
  });

  it("takes a manifest Secret's value the chart looked up from the live Secret", async () => {
    const stored = recordSecret(release(1));
    const live = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-creds', namespace: 'demo', annotations: OURS }, data: { password: Buffer.from(PASSWORD).toString('base64') } };
    const lookedUp = agentView(live);
    const rel = { ...release(2), manifest: manifest('x').replace(Buffer.from('x').toString('base64'), (lookedUp.data as Obj).password as string) };
    const res = await restoreReleaseWrite(probeWith([stored], { 'app-creds': live }), info, recordSecret(rel), masker);
    expect('body' in res).toBe(true);
    expect(payloadOf((res as { body: Obj }).body).manifest).toContain(Buffer.from(PASSWORD).toString('base64'));
  });

  it('leaves a record without markers as it is', async () => {
    const secret = recordSecret(release(3, 'brand-new-value'));
    const res = await restoreReleaseWrite(probeWith([]), info, secret, masker);
    expect(res).toEqual({ body: secret });
    expect(decodeRelease((secret.data as Obj).release)?.release.name).toBe('app');
  });
});

describe('a value moved by its marker', () => {
  it('is refused out of sight of masking even when it is too short to be scrubbed by value', async () => {
    const short = { ...release(1), config: { password: 'pw42' }, info: { status: 'deployed' }, manifest: '' };
    const stored = recordSecret(short);
    const seen = payloadOf(agentView(stored));
    const marker = (seen.config as Obj).password as string;
    expect(marker).toMatch(/^airlock-masked:/);
    const kept = { ...seen, version: 2, config: { password: marker, image: marker } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(kept), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/unmasked/);
  });
});

describe('the check a restored value must pass', () => {
  it('holds for the weakest view a policy gives (ConfigMaps unmasked), not only the strictest', async () => {
    const stored = recordSecret(release(1));
    const seen = payloadOf(agentView(stored));
    const marker = (seen.config as Obj).password as string;
    const cm = '\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  password: ' + marker + '\n';
    const moved = { ...seen, version: 2, config: { replicas: 2 }, manifest: cm, info: { status: 'deployed' } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(moved), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/unmasked/);
  });
});

describe('what an attacker tried (red team)', () => {
  const lookedUpRecord = (name: string, namespace: string, marker: string): Obj => {
    const doc = `\napiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  password: ${marker}\n`;
    return recordSecret({ ...release(2), manifest: doc });
  };
  const marker = Buffer.from('airlock-masked:sha256:00000000').toString('base64');
  const victim = (annotations: Obj, namespace = 'demo'): Obj => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'victim', namespace, annotations }, data: { password: Buffer.from('victim-value-123').toString('base64') } });

  it("never copies a live Secret that is not this release's own, made by this agent", async () => {
    for (const [live, ns] of [
      [victim({}), 'demo'], // someone else's Secret
      [victim({ ...OURS, 'airlock.dev/agent': 'other-agent' }), 'demo'], // another agent's
      [victim({ ...OURS, 'meta.helm.sh/release-name': 'other' }), 'demo'], // another release's
      [victim(OURS, 'airlock-system'), 'airlock-system'], // another namespace
    ] as Array<[Obj, string]>) {
      const res = await restoreReleaseWrite(probeWith([recordSecret(release(1))], { victim: live }), info, lookedUpRecord('victim', ns, marker), masker);
      expect('refuse' in res && res.refuse.message).toMatch(/stands for no value/);
    }
  });

  it('refuses a value put back in base64 where the record shows it', async () => {
    const stored = recordSecret(release(1));
    const seen = payloadOf(agentView(stored));
    const m = (seen.config as Obj).password as string;
    const sneaky = { ...seen, version: 2, config: { replicas: 2 }, manifest: '', info: { status: 'deployed', notes: `k=${Buffer.from(m).toString('base64')}` } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(sneaky), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/unmasked/);
  });

  it('refuses a value put back inside a nested document that the real value would break', async () => {
    const quoted = 'Can"Quote-9b8d7e';
    const stored = recordSecret(release(1, quoted));
    const seen = payloadOf(agentView(stored));
    const m = (seen.config as Obj).password as string;
    const cm = `\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  x.json: '{"kind":"Secret","stringData":{"a":"${m}"}}'\n`;
    const sneaky = { ...seen, version: 2, config: { replicas: 2 }, manifest: cm, info: { status: 'deployed' } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(sneaky), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/unmasked/);
  });
});

describe('what an attacker tried (second red-team pass)', () => {
  it('refuses a binary value put back in base64 where the record shows it', async () => {
    const key = Buffer.from('b33b6318f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a59687786919e4', 'hex');
    const doc = `\napiVersion: v1\nkind: Secret\nmetadata:\n  name: enc\ndata:\n  enc.key: ${key.toString('base64')}\n`;
    const stored = recordSecret({ ...release(1), manifest: doc });
    const seen = payloadOf(agentView(stored));
    const token = /enc\.key: (\S+)/.exec(seen.manifest as string)![1]!;
    expect(Buffer.from(token, 'base64').toString()).toMatch(/^airlock-masked:sha256:/);
    const sneaky = { ...seen, version: 2, manifest: '', config: {}, info: { status: 'deployed', notes: `key: ${token}` } };
    const res = await restoreReleaseWrite(probeWith([stored]), info, recordSecret(sneaky), masker);
    expect('refuse' in res && res.refuse.message).toMatch(/unmasked/);
  });
});

describe('gzip the masker opens (second red-team pass)', () => {
  const cmRecord = (rel: Obj): Obj => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sh.helm.release.v1.app.v1', namespace: 'demo', labels: { owner: 'helm', name: 'app' } }, data: { release: Buffer.from((encodeRelease(rel)), 'base64').toString('latin1') } });
  const cmView = (cm: Obj, configMaps = true): Obj => masker.maskValue!(structuredClone(cm), { resource: 'configmaps', apiGroup: '', watch: false } as never, rules({ configMaps })) as Obj;

  it("masks a record of Helm's ConfigMap storage driver inside, even where ConfigMaps are not masked", () => {
    for (const configMaps of [true, false]) {
      const seen = cmView(cmRecord(release(1)), configMaps);
      const inner = (seen.data as Obj).release as string;
      const rel = JSON.parse(gunzipSync(Buffer.from(inner, 'base64')).toString('utf8')) as Obj;
      expect(rel.name).toBe('app');
      expect(JSON.stringify(rel)).not.toContain(PASSWORD);
      expect(JSON.stringify(rel)).not.toContain(TOKEN);
    }
  });

  it('refuses a ConfigMap-driver record written back with markers', async () => {
    const seen = cmView(cmRecord(release(1)));
    const cmInfo = parseRequestInfo('PUT', '/api/v1/namespaces/demo/configmaps/sh.helm.release.v1.app.v1');
    const res = await restoreReleaseBody(probeWith([]), cmInfo, seen, masker);
    expect('refuse' in res && res.refuse.message).toMatch(/ConfigMap storage driver/);
    expect(await restoreReleaseBody(probeWith([]), cmInfo, cmRecord(release(2)), masker)).toEqual({ body: cmRecord(release(2)) });
  });

  it('opens gzip in binaryData: a gzipped kubeconfig is masked inside; what is not text inside is masked whole', () => {
    const kubeconfig = 'apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: "gzCANARYtok-9f8e7d6c5b4a"\n';
    const tarball = gzipSync(Buffer.from([0, 1, 2, 255, 254, 0, 7]));
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'k' }, binaryData: { 'kubeconfig.gz': gzipSync(Buffer.from(kubeconfig)).toString('base64'), 'blob.gz': tarball.toString('base64') } };
    const seen = cmView(cm);
    const opened = gunzipSync(Buffer.from((seen.binaryData as Obj)['kubeconfig.gz'] as string, 'base64')).toString();
    expect(opened).toContain('apiVersion: v1');
    expect(opened).not.toContain('gzCANARYtok');
    expect(Buffer.from((seen.binaryData as Obj)['blob.gz'] as string, 'base64').toString()).toMatch(/^airlock-masked:sha256:/);
  });
});
