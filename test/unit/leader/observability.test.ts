// The Grafana dashboard and the Prometheus alert rules query only metrics Airlock really exports
// (src/metrics/registry.ts), with the right suffixes for their types, and cover what operators need.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { createMetrics } from '../../../src/metrics/registry.js';

const root = process.cwd();
const read = (p: string) => readFileSync(join(root, p), 'utf8');

async function exportedMetrics(): Promise<Map<string, string>> {
  // What the operator serves: every Airlock metric plus the process ones.
  const { registry } = createMetrics({ processMetrics: true });
  return new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
}

/** Metric names referenced by a PromQL expression (airlock_* only; label names and functions never start so). */
function metricsIn(expr: string): string[] {
  // Drop label matchers ({...}) first so label values such as "airlock_x" cannot count as metrics.
  const bare = expr.replace(/\{[^}]*\}/g, '{}').replace(/"[^"]*"/g, '""');
  return [...new Set(bare.match(/\bairlock_[a-z0-9_]+\b/g) ?? [])];
}

/** Checks a referenced series name against the registry: histograms only via _bucket/_count/_sum. */
function problem(name: string, metrics: Map<string, string>): string | undefined {
  if (metrics.has(name)) return metrics.get(name) === 'histogram' ? `${name} is a histogram: query _bucket, _count or _sum` : undefined;
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  if (m && metrics.get(m[1]) === 'histogram') return undefined;
  return `${name} is not exported by src/metrics/registry.ts`;
}

interface Panel { type: string; title: string; id: number; targets?: { expr: string }[]; panels?: Panel[] }

function allPanels(ps: Panel[]): Panel[] {
  return ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

describe('Grafana dashboard deploy/grafana/airlock-dashboard.json', () => {
  const dash = JSON.parse(read('deploy/grafana/airlock-dashboard.json')) as {
    uid: string; title: string; panels: Panel[]; templating: { list: { name: string; query: unknown }[] };
  };
  const panels = allPanels(dash.panels);
  const exprs = [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dash.templating.list.map((v) => (typeof v.query === 'string' ? v.query : (v.query as { query?: string })?.query ?? '')),
  ].filter(Boolean);

  it('queries only exported metrics', async () => {
    const metrics = await exportedMetrics();
    expect(exprs.length).toBeGreaterThan(20);
    const problems = exprs.flatMap((e) => metricsIn(e).map((n) => problem(n, metrics)).filter(Boolean));
    expect(problems).toEqual([]);
  });

  it('covers decisions, latency, approvals, masking, recording, certificates and the leader', () => {
    const used = new Set(exprs.flatMap(metricsIn));
    for (const name of [
      'airlock_decisions_total', 'airlock_proxy_request_duration_seconds_bucket', 'airlock_upstream_request_duration_seconds_bucket',
      'airlock_webhook_request_duration_seconds_bucket', 'airlock_approvals_total', 'airlock_approvals_pending',
      'airlock_masked_values_total', 'airlock_recording_bytes_total', 'airlock_recording_errors_total',
      'airlock_certificate_expiry_timestamp_seconds', 'airlock_leader',
    ]) expect([...used]).toContain(name);
    // p50 and p99 for each latency histogram.
    for (const h of ['proxy_request', 'upstream_request', 'webhook_request']) {
      for (const q of ['0.5', '0.99']) {
        expect(exprs.some((e) => e.includes(`histogram_quantile(${q}`) && e.includes(`airlock_${h}_duration_seconds_bucket`))).toBe(true);
      }
    }
    // Decisions are broken down by action and by policy.
    expect(exprs.some((e) => /sum by \(action\) \(rate\(airlock_decisions_total/.test(e))).toBe(true);
    expect(exprs.some((e) => /sum by \(policy, action\)/.test(e))).toBe(true);
  });

  it('is a well-formed dashboard: unique panel ids, a data source variable, counters only under rate/increase', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dash.uid).toBe('airlock-overview');
    expect(dash.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'namespace']));
    for (const e of exprs) {
      for (const c of e.match(/\bairlock_[a-z0-9_]+_(total|bucket|count)\b/g) ?? []) {
        expect(e).toMatch(new RegExp(`(rate|increase)\\(${c}`));
      }
    }
  });
});

describe('Prometheus rules deploy/prometheus/airlock-rules.yaml', () => {
  const file = yaml.load(read('deploy/prometheus/airlock-rules.yaml')) as {
    groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
  };
  const rules = file.groups.flatMap((g) => g.rules);

  it('defines the alerts operators need', () => {
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining([
      'AirlockWebhookLatencyHigh', 'AirlockWebhookFailing', 'AirlockProxyFailing', 'AirlockCertificateExpiringSoon',
      'AirlockRecordingWriteErrors', 'AirlockNoLeader',
    ]));
  });

  it('references only exported metrics, with the right suffixes', async () => {
    const metrics = await exportedMetrics();
    for (const r of rules) {
      const names = metricsIn(r.expr);
      expect(names.length).toBeGreaterThan(0);
      expect(names.map((n) => problem(n, metrics)).filter(Boolean)).toEqual([]);
    }
  });

  it('every rule has a severity, a summary, a runbook in docs/operations.md and a valid duration', () => {
    const ops = read('docs/operations.md').toLowerCase();
    for (const r of rules) {
      expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.runbook_url).toMatch(/^docs\/operations\.md#[a-z0-9-]+$/);
      const anchor = r.annotations.runbook_url.split('#')[1];
      expect(ops).toContain(`### ${anchor}`);
      if (r.for) expect(r.for).toMatch(/^\d+[smh]$/);
    }
  });

  it('the certificate alert fires within 7 days of expiry; the latency alert uses the webhook p99', () => {
    const cert = rules.find((r) => r.alert === 'AirlockCertificateExpiringSoon')!;
    expect(cert.expr.replace(/\s+/g, ' ')).toContain('- time() < 7 * 86400');
    const lat = rules.find((r) => r.alert === 'AirlockWebhookLatencyHigh')!;
    expect(lat.expr).toContain('histogram_quantile(0.99');
    expect(lat.expr).toContain('airlock_webhook_request_duration_seconds_bucket');
  });
});
