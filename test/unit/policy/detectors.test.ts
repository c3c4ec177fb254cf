// Table tests for every built-in detector (fixtures in test/fixtures/policy/), and every pod-spec detector
// in every workload kind.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { DETECTORS, DETECTOR_NAMES } from '../../../src/policy/detectors/index.js';
import { resolveDetectorSettings } from '../../../src/policy/compile.js';
import { requestFromManifest } from '../../../src/policy/manifest.js';
import type { RequestAttributes } from '../../../src/policy/types.js';
import type { DetectorSettings } from '../../../src/api/types.js';

type Rec = Record<string, unknown>;
const fixture = (name: string): unknown => yaml.load(readFileSync(new URL(`../../fixtures/policy/${name}`, import.meta.url), 'utf8'));
const user = { username: 'agent-ci', groups: ['airlock:agents'] };

interface Case {
  name: string; verb?: string; resource?: string; apiGroup?: string; subresource?: string; oldObject?: Rec; settings?: DetectorSettings;
  manifest?: Rec; request?: Rec; requests?: Rec[]; paths: string[]; anyPath?: boolean;
}
interface Table { detector: string; settings?: DetectorSettings; cases: Case[] }

function requestsOf(c: Case): RequestAttributes[] {
  if (c.manifest) {
    const r = requestFromManifest(c.manifest, { user, verb: c.verb ?? 'create', ...(c.subresource ? { subresource: c.subresource } : {}), ...(c.oldObject ? { oldObject: c.oldObject } : {}) });
    if (c.resource) r.resource = c.resource;
    if (c.apiGroup !== undefined) r.apiGroup = c.apiGroup;
    return [r];
  }
  return (c.requests ?? [c.request!]).map((r) => ({ isResourceRequest: true, via: 'test', user, ...r }) as RequestAttributes);
}

const tables = fixture('detector-cases.yaml') as Table[];

describe('detector table tests', () => {
  for (const t of tables) {
    describe(t.detector, () => {
      for (const c of t.cases) {
        it(c.name, () => {
          const fn = DETECTORS[t.detector]!;
          expect(fn).toBeDefined();
          const settings = resolveDetectorSettings({ ...t.settings, ...c.settings });
          for (const req of requestsOf(c)) {
            const got = fn(req, settings);
            for (const e of got) {
              expect(e.detector).toBe(t.detector);
              expect(e.message.length).toBeGreaterThan(0);
            }
            const paths = got.map((e) => e.path);
            if (c.anyPath) {
              expect(paths.length).toBeGreaterThan(0);
              for (const p of paths) expect(c.paths).toContain(p);
            } else {
              expect([...paths].sort()).toEqual([...c.paths].sort());
            }
          }
        });
      }
    });
  }

  it('covers every detector with a firing case', () => {
    const podViolations = Object.keys(fixture('pod-violations.yaml') as Rec);
    const firing = new Set([...tables.filter((t) => t.cases.some((c) => c.paths.length > 0)).map((t) => t.detector), ...podViolations]);
    expect(DETECTOR_NAMES.filter((d) => !firing.has(d))).toEqual([]);
  });
});

// ---------- every workload kind ----------

const KINDS: { kind: string; apiVersion: string; wrap: (spec: Rec, meta: Rec) => Rec; prefix: string }[] = [
  { kind: 'Pod', apiVersion: 'v1', wrap: (spec, meta) => ({ metadata: { name: 'x', namespace: 'a', ...meta }, spec }), prefix: '' },
  ...['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'].map((kind) => ({
    kind, apiVersion: 'apps/v1', prefix: 'spec.template.',
    wrap: (spec: Rec, meta: Rec) => ({ metadata: { name: 'x', namespace: 'a' }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'x' }, ...meta }, spec } } }),
  })),
  { kind: 'Job', apiVersion: 'batch/v1', prefix: 'spec.template.', wrap: (spec, meta) => ({ metadata: { name: 'x', namespace: 'a' }, spec: { template: { metadata: meta, spec: { restartPolicy: 'Never', ...spec } } } }) },
  { kind: 'CronJob', apiVersion: 'batch/v1', prefix: 'spec.jobTemplate.spec.template.', wrap: (spec, meta) => ({ metadata: { name: 'x', namespace: 'a' }, spec: { schedule: '@daily', jobTemplate: { spec: { template: { metadata: meta, spec } } } } }) },
  { kind: 'ReplicationController', apiVersion: 'v1', prefix: 'spec.template.', wrap: (spec, meta) => ({ metadata: { name: 'x', namespace: 'a' }, spec: { selector: { app: 'x' }, template: { metadata: { labels: { app: 'x' }, ...meta }, spec } } }) },
  { kind: 'PodTemplate', apiVersion: 'v1', prefix: 'template.', wrap: (spec, meta) => ({ metadata: { name: 'x', namespace: 'a' }, template: { metadata: meta, spec } }) },
];

describe('pod-spec detectors in every workload kind', () => {
  const violations = fixture('pod-violations.yaml') as Record<string, { spec: Rec; metadata?: Rec; path: string }>;
  const settings = resolveDetectorSettings({ allowedRegistries: ['registry.example.com'] });
  for (const [detector, v] of Object.entries(violations)) {
    const cases: [string, Rec, string][] = KINDS.map((k) => [k.kind, { apiVersion: k.apiVersion, kind: k.kind, ...k.wrap(v.spec, v.metadata ?? {}) }, `${k.prefix}spec.${v.path}`]);
    const dep = KINDS[1]!;
    cases.push(['List', { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, { apiVersion: dep.apiVersion, kind: dep.kind, ...dep.wrap(v.spec, v.metadata ?? {}) }] }, `items[1].spec.template.spec.${v.path}`]);
    cases.push(['DeploymentList', { apiVersion: 'apps/v1', kind: 'DeploymentList', items: [{ apiVersion: dep.apiVersion, kind: dep.kind, ...dep.wrap(v.spec, v.metadata ?? {}) }] }, `items[0].spec.template.spec.${v.path}`]);
    it.each(cases)(`${detector} in %s`, (_kind, manifest, path) => {
      for (const verb of ['create', 'update', 'patch']) {
        const got = DETECTORS[detector]!(requestFromManifest(manifest, { user, verb }), settings);
        expect(got.map((e) => e.path)).toContain(path);
      }
      const del = DETECTORS[detector]!(requestFromManifest(manifest, { user, verb: 'delete' }), settings);
      expect(del).toEqual([]);
    });
  }
});

describe('detectors never throw on hostile shapes', () => {
  const weird: unknown[] = [null, 42, 'str', [], { spec: null }, { spec: { containers: 'x' } }, { spec: { containers: [null, 1, { securityContext: 'x' }] } },
    { kind: 'List', items: [null, { spec: { template: { spec: { containers: [{ securityContext: { capabilities: { add: [1, null] } } }] } } } }] },
    { rules: 'x', subjects: [null], roleRef: 7 }, { spec: { template: { spec: { volumes: [null, { projected: { sources: [null] } }] } } } }];
  it.each(weird.map((w, i) => [i, w]))('shape %d', (_i, obj) => {
    for (const name of DETECTOR_NAMES) {
      for (const resource of ['pods', 'roles', 'clusterrolebindings', 'services', 'namespaces', 'persistentvolumes']) {
        const req = { user, verb: 'create', isResourceRequest: true, apiGroup: '', apiVersion: 'v1', resource, object: obj, oldObject: obj, via: 'test' } as RequestAttributes;
        expect(Array.isArray(DETECTORS[name]!(req, resolveDetectorSettings()))).toBe(true);
      }
    }
  });
});
