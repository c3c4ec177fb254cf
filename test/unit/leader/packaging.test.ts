// Packaging invariants that need no Docker engine or cluster: the Dockerfile, the chart's CRD copies,
// values.schema.json against the values files, and the Dockerfile/chart agreement on the runtime user.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import yaml from 'js-yaml';
import { Ajv } from 'ajv';
import { validateObject } from '../../../src/api/validate.js';

const root = process.cwd();
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Instruction { op: string; args: string; stage: number }

/** Parses a Dockerfile into instructions (comments dropped, continuation lines joined, ARG defaults substituted in FROM). */
function parseDockerfile(text: string): { instructions: Instruction[]; stages: { image: string; alias?: string }[] } {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!cur && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) { cur += line.slice(0, -1) + ' '; continue; }
    logical.push(cur + line);
    cur = '';
  }
  const args = new Map<string, string>();
  const instructions: Instruction[] = [];
  const stages: { image: string; alias?: string }[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`unparseable Dockerfile line: ${l}`);
    const op = m[1].toUpperCase();
    const rest = m[2];
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      if (v !== undefined) args.set(k.trim(), v.trim());
    }
    if (op === 'FROM') {
      const parts = rest.split(/\s+/);
      const image = parts[0].replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => {
        const v = args.get(a ?? b);
        if (v === undefined) throw new Error(`FROM uses undefined ARG ${a ?? b}`);
        return v;
      });
      stages.push({ image, alias: /^as$/i.test(parts[1] ?? '') ? parts[2] : undefined });
    }
    instructions.push({ op, args: rest, stage: stages.length - 1 });
  }
  return { instructions, stages };
}

describe('Dockerfile', () => {
  const { instructions, stages } = parseDockerfile(read('Dockerfile'));
  const final = stages.length - 1;
  const inFinal = instructions.filter((i) => i.stage === final);

  it('is multi-stage and every base image is Node.js 24 with an explicit, non-latest tag', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages.filter((x) => !stages.some((y) => y.alias === x.image))) {
      const m = /^(?<repo>[^@]+?)(?::(?<tag>[^:@/]+))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/.exec(s.image);
      expect(m).not.toBeNull();
      const { repo, tag, digest } = m!.groups!;
      expect(tag ?? digest).toBeDefined();
      expect(tag).not.toBe('latest');
      expect(`${repo}:${tag ?? ''}`).toMatch(/(^|\/)node:24(\.|-|$)|nodejs24/);
    }
  });

  it('builds with npm ci and tsc, and ships only dist, production node_modules, package.json and crds', () => {
    const runs = instructions.filter((i) => i.op === 'RUN' && i.stage < final).map((i) => i.args).join('\n');
    expect(runs).toMatch(/npm ci(?!\S)/);
    expect(runs).toMatch(/npm ci --omit=dev/);
    expect(runs).toMatch(/\btsc\b/);
    const copies = inFinal.filter((i) => i.op === 'COPY' || i.op === 'ADD');
    expect(copies.every((c) => c.op === 'COPY')).toBe(true);
    const dests = copies.map((c) => c.args.split(/\s+/).filter((a) => !a.startsWith('--')));
    const shipped = dests.map((d) => d[d.length - 1].replace(/^\.\//, '').replace(/\/$/, '')).sort();
    expect(shipped).toEqual(['crds', 'dist/src', 'node_modules', 'package.json']);
    // node_modules comes from the production-only stage.
    const nm = copies.find((c) => /node_modules/.test(c.args))!;
    const fromStage = /--from=(\S+)/.exec(nm.args)![1];
    const depsStage = stages.findIndex((s) => s.alias === fromStage);
    const depsRuns = instructions.filter((i) => i.stage === depsStage && i.op === 'RUN').map((i) => i.args).join('\n');
    expect(depsRuns).toMatch(/--omit=dev/);
    // Nothing in the runtime stage runs a shell (distroless has none) or installs packages.
    expect(inFinal.filter((i) => i.op === 'RUN')).toEqual([]);
  });

  it('runs as uid 65532 (not root) and starts node dist/src/main/index.js', () => {
    const users = inFinal.filter((i) => i.op === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const uid = users[users.length - 1].args.split(':')[0];
    expect(uid).toBe('65532');
    const entry = inFinal.filter((i) => i.op === 'ENTRYPOINT').pop()!;
    const argv = JSON.parse(entry.args) as string[];
    expect(argv[0]).toMatch(/(^|\/)node$/);
    expect(argv[1]).toBe('dist/src/main/index.js');
    // tsc maps src/main/index.ts to dist/src/main/index.js (rootDir ".", outDir "dist").
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(tsconfig.compilerOptions).toMatchObject({ rootDir: '.', outDir: 'dist' });
    expect(existsSync(join(root, 'src/main/index.ts'))).toBe(true);
  });

  it('the runtime image has every package src/ imports at run time (dependencies, not devDependencies)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const files = (readdirSync(join(root, 'src'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => join(root, 'src', f));
    expect(files.length).toBeGreaterThan(10);
    const missing: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // Value imports and re-exports (type-only imports are erased by tsc), and dynamic import().
      const specs = [
        ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]),
        ...[...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]),
      ];
      for (const spec of specs) {
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0])) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!(name in pkg.dependencies)) missing.push(`${relative(root, file)}: ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('keeps secrets, local state and dependencies out of the build context', () => {
    const lines = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toBe('**'); // deny by default
    const allowed = lines.filter((l) => l.startsWith('!'));
    for (const a of allowed) expect(a).not.toMatch(/node_modules|\.airlock|\.git|dist|kubeconfig|\.env/);
    expect(allowed).toEqual(expect.arrayContaining(['!package.json', '!package-lock.json', '!tsconfig.json', '!src/**', '!crds/**']));
  });

  it('agrees with the chart on the runtime user and the writable paths', () => {
    const values = yaml.load(read('charts/airlock/values.yaml')) as Record<string, any>;
    expect(values.podSecurityContext.runAsUser).toBe(65532);
    expect(values.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(read('charts/airlock/templates/deployment.yaml')).toMatch(/mountPath: \/tmp\n/);
  });
});

describe('Helm chart files', () => {
  it('ships CRDs identical to crds/ (copy them after `make crds`: cp crds/*.yaml charts/airlock/crds/)', () => {
    const src = readdirSync(join(root, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    const chart = readdirSync(join(root, 'charts/airlock/crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(chart).toEqual(src);
    for (const f of src) expect(read(`charts/airlock/crds/${f}`)).toBe(read(`crds/${f}`));
  });

  it('ships the same alert rules as deploy/prometheus/airlock-rules.yaml', () => {
    expect(read('charts/airlock/files/airlock-rules.yaml')).toBe(read('deploy/prometheus/airlock-rules.yaml'));
  });

  it('Chart.yaml is apiVersion v2 with appVersion 0.1.0, matching package.json', () => {
    const chart = yaml.load(read('charts/airlock/Chart.yaml')) as Record<string, string>;
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.appVersion).toBe('0.1.0');
    expect(chart.appVersion).toBe(pkg.version);
  });

  describe('values.schema.json', () => {
    const schema = JSON.parse(read('charts/airlock/values.schema.json')) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const defaults = yaml.load(read('charts/airlock/values.yaml')) as Record<string, any>;
    const full = yaml.load(read('charts/airlock/ci/full-values.yaml')) as Record<string, any>;
    const merged = (patch: Record<string, any>): Record<string, any> => {
      const out = structuredClone(defaults);
      for (const [path, v] of Object.entries(patch)) {
        const keys = path.split('.');
        let o = out;
        for (const k of keys.slice(0, -1)) o = o[k];
        o[keys[keys.length - 1]] = v;
      }
      return out;
    };

    it('accepts the defaults and the full example', () => {
      expect(validate(defaults) ? [] : validate.errors).toEqual([]);
      expect(validate({ ...defaults, ...full }) ? [] : validate.errors).toEqual([]);
    });

    it.each([
      ['an unknown key', { bogus: true }],
      ['a latest image tag', { 'image.tag': 'latest' }],
      ['impersonating system:masters', { 'agents.groups': ['system:masters'] }],
      ['a system user as an agent', { 'agents.users': ['system:kube-controller-manager'] }],
      ['a writable root filesystem', { 'securityContext.readOnlyRootFilesystem': false }],
      ['added capabilities', { 'securityContext.capabilities': { drop: ['ALL'], add: ['NET_ADMIN'] } }],
      ['running as root', { 'podSecurityContext.runAsNonRoot': false }],
      ['a webhook timeout over 30 s', { 'webhook.timeoutSeconds': 31 }],
      ['an http OIDC issuer', { 'proxy.oidcIssuers': [{ issuerURL: 'http://idp.example.com', audience: 'a' }] }],
      ['an OIDC issuer without audience', { 'proxy.oidcIssuers': [{ issuerURL: 'https://idp.example.com' }] }],
      ['a ServiceAccount without namespace', { 'agents.serviceAccounts': [{ name: 'bot' }] }],
      ['an unknown failure policy', { 'webhook.failurePolicy': 'Sometimes' }],
    ])('rejects %s', (_what, patch) => {
      expect(validate(merged(patch))).toBe(false);
    });

    it('the full example installs a default AgentPolicy that the CRD schema accepts', () => {
      expect(validateObject('AgentPolicy', { spec: full.defaultPolicy.spec })).toEqual({ valid: true, errors: [] });
    });
  });
});
