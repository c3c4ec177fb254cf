// Generated Helm release records with a canary planted where masking protects it (a Secret's data or
// stringData, a credential value, a credential env value) and echoed anywhere else (notes, comments,
// templates, other documents, annotations, values), in every YAML scalar style. The agent's view must never
// hold the canary in any spelling; written back as the next revision, the record must get exactly its
// real content again.
import { describe, expect, it } from '@jest/globals';
import { gunzipSync } from 'node:zlib';
import yaml from 'js-yaml';
import { createMaskerFactory, encodeRelease } from '../../../src/masking/index.js';
import { restoreReleaseWrite } from '../../../src/proxy/helm-release-writes.js';
import { parseRequestInfo } from '../../../src/proxy/request-info.js';
import type { ProbeContext } from '../../../src/proxy/dryrun.js';
import { KEY, rules } from './helpers.js';

type Obj = Record<string, any>;
const CASES = 400;
const masker = createMaskerFactory({ key: KEY, markers: 'unlinkable' });
const info = parseRequestInfo('POST', '/api/v1/namespaces/gen/secrets');

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T,>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ODD = ALNUM + ':#"\'{}[],&*!|>%@` -_./\\';

function canary(r: ReturnType<typeof prng>): string {
  const len = 8 + r.int(16);
  let v = 'Cn';
  for (let i = 0; i < len; i++) v += (r.chance(0.15) ? ODD : ALNUM)[r.int(r.chance(0.15) ? ODD.length : ALNUM.length)];
  return v;
}

/** A YAML scalar for a string in a random style (all of which read back as the same string). */
function scalar(r: ReturnType<typeof prng>, v: string, indent: string): string {
  const style = r.int(4);
  if (style === 0 || /[\n"\\]/.test(v) === false && style === 1) return JSON.stringify(v);
  if (style === 1) return JSON.stringify(v);
  if (style === 2) return `'${v.replace(/'/g, "''")}'`;
  return `|-\n${indent}  ${v}`;
}

/** A manifest document, with a leading # Source comment and maybe an inner comment. */
function doc(r: ReturnType<typeof prng>, name: string, body: string, echo?: string): string {
  const inner = echo && r.chance(0.3) ? `# note: ${echo}\n` : '';
  const lead = echo && r.chance(0.3) ? `# Source: app/templates/${name}.yaml (${echo})` : `# Source: app/templates/${name}.yaml`;
  return `\n${lead}\n${inner}${body}`;
}

interface Generated {
  release: Obj;
  secret: string;
}

function generate(seed: number): Generated {
  const r = prng(seed);
  const v = canary(r);
  const b64 = Buffer.from(v).toString('base64');
  const echo = () => (r.chance(0.5) ? v : undefined);
  const docs: string[] = [''];
  const where = r.int(4);
  const config: Obj = { replicas: 1 + r.int(3), image: 'nginx:1.27' };
  // The protected place.
  if (where === 0) docs.push(doc(r, 'secret', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s${seed}\ntype: Opaque\ndata:\n  password: ${r.chance(0.5) ? b64 : JSON.stringify(b64)}\n`, echo()));
  if (where === 1) docs.push(doc(r, 'secret', `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s${seed}\nstringData:\n  password: ${scalar(r, v, '  ')}\n`, echo()));
  if (where === 2) config[r.pick(['password', 'apiToken', 'clientSecret', 'dbPassword'])] = v;
  if (where === 3) docs.push(doc(r, 'deploy', `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d${seed}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        env:\n        - name: DB_PASSWORD\n          value: ${scalar(r, v, '          ')}\n`, echo()));
  // Echoes elsewhere.
  if (r.chance(0.5)) docs.push(doc(r, 'cm', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${seed}\n  annotations:\n    note: ${scalar(r, r.chance(0.5) ? v : 'plain', '    ')}\ndata:\n  mode: ${scalar(r, r.chance(0.5) ? `x ${v} y` : 'fast', '  ')}\n`, echo()));
  if (r.chance(0.3)) config.note = `see ${v}`;
  const release: Obj = {
    name: `gen${seed}`,
    namespace: 'gen',
    version: 1,
    info: { status: 'deployed', description: r.chance(0.3) ? `install ${v}` : 'Install complete', notes: r.chance(0.5) ? `token: ${v}` : 'done' },
    config,
    chart: {
      metadata: { name: 'app', version: '0.1.0' },
      values: r.chance(0.3) ? { adminPassword: v } : { image: 'nginx' },
      templates: [{ name: 'templates/x.yaml', data: Buffer.from(r.chance(0.3) ? `# default ${v}\nkind: ConfigMap` : 'kind: ConfigMap').toString('base64') }],
    },
    manifest: docs.join('---'),
  };
  if (r.chance(0.3)) release.hooks = [{ name: 'h', kind: 'Job', path: 'app/templates/hook.yaml', manifest: `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: h\n  annotations:\n    echo: ${JSON.stringify(`v=${v}`)}\n` }];
  return { release, secret: v };
}

function recordOf(rel: Obj): Obj {
  return { apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1', metadata: { name: `sh.helm.release.v1.${rel.name}.v${rel.version}`, namespace: 'gen', labels: { owner: 'helm', name: rel.name } }, data: { release: encodeRelease(rel) } };
}

function payloadOf(secret: Obj): Obj | undefined {
  const inner = Buffer.from(secret.data.release as string, 'base64').toString('latin1');
  const bytes = Buffer.from(inner, 'base64');
  if (bytes[0] !== 0x1f) return undefined; // masked whole: a marker, not a record
  return JSON.parse(gunzipSync(bytes).toString('utf8')) as Obj;
}

/** Every string of a value, chart files decoded. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
    if (k === 'data' && typeof x === 'string') out.push(Buffer.from(x, 'base64').toString('utf8'));
    strings(x, out);
  }
  return out;
}

function spellings(v: string): string[] {
  const b = Buffer.from(v);
  return [v, b.toString('base64'), b.toString('base64url'), JSON.stringify(v).slice(1, -1)];
}

const manifestObjects = (m: string) => m.split(/^---[ \t]*$/m).map((d) => yaml.load(d, { schema: yaml.CORE_SCHEMA, json: true }) ?? null);

function probeWith(stored: Obj[]): ProbeContext {
  return {
    user: { username: 'agent', groups: [] },
    identity: {},
    up: { json: async () => ({ status: 200, body: { kind: 'SecretList', items: stored }, headers: {} }) },
  } as unknown as ProbeContext;
}

describe('generated Helm release records', () => {
  it(`never show a protected canary, and map back exactly (${CASES} records)`, async () => {
    let whole = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const { release, secret } = generate(seed);
      const stored = recordOf(release);
      const seen = masker.maskValue!(structuredClone(stored), { resource: 'secrets', apiGroup: '', watch: false } as never, rules()) as Obj;
      const view = payloadOf(seen);
      if (!view) {
        whole++;
        continue;
      }
      const leaked = strings(view).find((s) => spellings(secret).some((sp) => s.includes(sp)));
      expect({ seed, leaked }).toEqual({ seed, leaked: undefined });

      const written = { ...view, version: 2, info: { ...view.info, status: 'deployed' } };
      const res = await restoreReleaseWrite(probeWith([stored]), info, recordOf(written), masker);
      expect({ seed, refused: 'refuse' in res ? res.refuse.message : undefined }).toEqual({ seed, refused: undefined });
      const back = payloadOf((res as { body: Obj }).body)!;
      expect({ seed, config: back.config, notes: back.info.notes, values: back.chart.values }).toEqual({ seed, config: release.config, notes: release.info.notes, values: release.chart.values });
      expect({ seed, manifest: manifestObjects(back.manifest) }).toEqual({ seed, manifest: manifestObjects(release.manifest) });
      expect(strings(back.chart.templates)).toEqual(strings(release.chart.templates));
    }
    // Masked whole is safe but breaks Helm for that release: every generated record is readable, so none
    // may fall back to it (a view that leaves a value behind is caught by its last check and lands here).
    expect(whole).toBe(0);
  }, 120000);
});
