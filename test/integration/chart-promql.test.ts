// Every PromQL expression Airlock ships (alert rules, shared by the chart's PrometheusRule, and the Grafana
// dashboard) parses with Prometheus's own parser and selects only metrics Airlock exports.
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { run } from '../helpers/env.js';
import { createMetrics } from '../../src/metrics/registry.js';

const root = process.cwd();
let bin: string;
let dir: string;

interface Parsed { metrics?: string[]; error?: string }

async function parse(exprs: string[]): Promise<Parsed[]> {
  const r = await run(bin, [], { input: JSON.stringify(exprs) });
  if (r.code !== 0) throw new Error(`promqlcheck failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Parsed[];
}

/** Grafana substitutes its variables before the query reaches Prometheus. */
function grafana(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '6h').replaceAll('$namespace', '.*');
}

async function unknownMetrics(names: string[]): Promise<string[]> {
  // What the operator serves: every Airlock metric plus the process ones.
  const { registry } = createMetrics({ processMetrics: true });
  const types = new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
  return names.filter((n) => {
    if (types.has(n)) return types.get(n) === 'histogram';
    const m = /^(.*)_(bucket|count|sum)$/.exec(n);
    return !(m && types.get(m[1]) === 'histogram');
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-promql-'));
  bin = join(dir, 'promqlcheck');
  execFileSync('go', ['build', '-o', bin, '.'], { cwd: resolve(root, 'deploy/prometheus/promqlcheck'), stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CGO_ENABLED: '0' } });
}, 600000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('PromQL shipped with Airlock', () => {
  it('the parser really rejects bad PromQL (the check is not vacuous)', async () => {
    const [bad, good] = await parse(['sum(rate(airlock_decisions_total[5m]) by (action)', 'sum by (action) (rate(airlock_decisions_total[5m]))']);
    expect(bad.error).toMatch(/parse error/);
    expect(good).toEqual({ metrics: ['airlock_decisions_total'] });
  });

  it('alert rules parse and select only exported metrics', async () => {
    const file = yaml.load(readFileSync(resolve(root, 'deploy/prometheus/airlock-rules.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const rules = file.groups.flatMap((g) => g.rules);
    const parsed = await parse(rules.map((r) => r.expr));
    expect(parsed.filter((p) => p.error).map((p, i) => `${rules[i].alert}: ${p.error}`)).toEqual([]);
    const used = [...new Set(parsed.flatMap((p) => p.metrics ?? []))];
    expect(used.length).toBeGreaterThanOrEqual(6);
    expect(await unknownMetrics(used)).toEqual([]);
  });

  it('dashboard queries parse and select only exported metrics', async () => {
    const dash = JSON.parse(readFileSync(resolve(root, 'deploy/grafana/airlock-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const queries = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: grafana(t.expr) })));
    const parsed = await parse(queries.map((q) => q.expr));
    expect(parsed.map((p, i) => (p.error ? `${queries[i].title}: ${p.error}` : '')).filter(Boolean)).toEqual([]);
    expect(parsed.every((p) => (p.metrics ?? []).length > 0)).toBe(true);
    expect(await unknownMetrics([...new Set(parsed.flatMap((p) => p.metrics ?? []))])).toEqual([]);
  });
});
