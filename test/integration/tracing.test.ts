// OpenTelemetry traces of agent requests, exported over OTLP/HTTP to a real Jaeger: a span per request
// continuing the caller's traceparent, a child span per stage, the decision and policy as attributes, and
// the trace context passed on to kube-apiserver.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRecorder } from '../../src/recording/index.js';
import { startTracing, type Tracing } from '../../src/tracing/tracer.js';
import { testEnv, uniqueName } from '../helpers/env.js';
import { startJaeger, tag, type Jaeger, type JaegerSpan } from '../helpers/jaeger.js';
import { agentPolicy, guardRules, rawRequest, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let jaeger: Jaeger;
let tracing: Tracing;
let proxy: TestProxy;
let recorder: FileRecorder;
const policyName = uniqueName('traced');
const dir = mkdtempSync(join(tmpdir(), 'airlock-trace-rec-'));

beforeAll(async () => {
  jaeger = await startJaeger();
  tracing = startTracing({ endpoint: jaeger.otlpTracesUrl, instance: 'tracing-test' });
  recorder = new FileRecorder({ dir, housekeepingMs: 0 });
  proxy = await startTestProxy({ policies: [agentPolicy(policyName, guardRules)], recorder, tracing });
}, 900_000);

afterAll(async () => {
  await proxy?.close();
  await recorder?.close();
  await tracing?.shutdown();
  await jaeger?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const byName = (spans: JaegerSpan[], name: string) => spans.filter((s) => s.operationName === name);
/** Complete once the request's span (ended last) and at least n spans in all arrived. */
const withRequestSpan = (n: number) => (spans: JaegerSpan[]) => spans.length >= n && byName(spans, 'airlock.proxy.request').length === 1;
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

describe('traces of agent requests', () => {
  it('an allowed read: one request span under the caller\'s span, a child per stage, the policy that allowed it', async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const res = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces/default/configmaps?limit=1', {
      token: testEnv().tokens['agent-ci'],
      headers: { traceparent: `00-${traceId}-${callerSpan}-01` },
    });
    expect(res.status).toBe(200);
    const spans = await jaeger.spans(traceId, withRequestSpan(6), () => tracing.flush());
    const [root] = byName(spans, 'airlock.proxy.request');
    expect(root).toBeDefined();
    expect(parentOf(root!)).toBe(callerSpan);
    expect(tag(root!, 'airlock.decision')).toBe('allow');
    expect(tag(root!, 'airlock.policy')).toBe(policyName);
    expect(tag(root!, 'airlock.rule')).toBe('everything-else');
    expect(tag(root!, 'http.response.status_code')).toBe(200);
    expect(tag(root!, 'enduser.id')).toBe('agent-ci');
    expect(tag(root!, 'k8s.verb')).toBe('list');
    expect(tag(root!, 'k8s.resource')).toBe('configmaps');
    for (const stage of ['authn', 'judge', 'upstream', 'masking', 'record']) {
      const s = byName(spans, `airlock.${stage}`);
      expect(s.length).toBeGreaterThan(0);
      for (const span of s) expect(parentOf(span)).toBe(root!.spanID);
    }
    expect(tag(byName(spans, 'airlock.upstream')[0]!, 'http.response.status_code')).toBe(200);
    for (const judge of byName(spans, 'airlock.judge')) expect(tag(judge, 'airlock.decision')).toBe('allow');
  });

  it('a denied request: the decision and the rule on the span, and no upstream span (nothing was forwarded)', async () => {
    const traceId = hex(16);
    const res = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces/default/secrets', {
      token: testEnv().tokens['agent-ci'],
      headers: { traceparent: `00-${traceId}-${hex(8)}-01` },
    });
    expect(res.status).toBe(403);
    const spans = await jaeger.spans(traceId, withRequestSpan(4), () => tracing.flush());
    const [root] = byName(spans, 'airlock.proxy.request');
    expect(tag(root!, 'airlock.decision')).toBe('deny');
    expect(tag(root!, 'airlock.rule')).toBe('no-secrets');
    expect(tag(root!, 'http.response.status_code')).toBe(403);
    expect(byName(spans, 'airlock.upstream')).toHaveLength(0);
    expect(byName(spans, 'airlock.judge').length).toBeGreaterThan(0);
  });

  it('a write: the write-ahead intent and the outcome are recorded in spans of their own', async () => {
    const traceId = hex(16);
    const name = uniqueName('traced-cm');
    const res = await rawRequest(proxy.url, 'POST', '/api/v1/namespaces/default/configmaps', {
      token: testEnv().tokens['agent-ci'],
      headers: { traceparent: `00-${traceId}-${hex(8)}-01`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } }),
    });
    expect(res.status).toBe(201);
    const spans = await jaeger.spans(traceId, withRequestSpan(7), () => tracing.flush());
    // The write-ahead intent and the outcome each have a record span (their order is the faults tests' job:
    // span clocks are anchored per span, so timestamps across spans cannot prove it).
    const records = byName(spans, 'airlock.record').map((r) => tag(r, 'airlock.record')).sort();
    expect(records).toEqual(['intent', 'outcome']);
    expect(tag(byName(spans, 'airlock.upstream')[0]!, 'http.response.status_code')).toBe(201);
    expect(byName(spans, 'airlock.dry-run').length).toBeGreaterThan(0);
  });

  it('an unauthenticated request is traced too, refused at authn', async () => {
    const traceId = hex(16);
    const res = await rawRequest(proxy.url, 'GET', '/api/v1/namespaces', { token: 'not-a-token', headers: { traceparent: `00-${traceId}-${hex(8)}-01` } });
    expect(res.status).toBe(401);
    const spans = await jaeger.spans(traceId, withRequestSpan(2), () => tracing.flush());
    const [root] = byName(spans, 'airlock.proxy.request');
    expect(tag(root!, 'http.response.status_code')).toBe(401);
    expect(byName(spans, 'airlock.authn')).toHaveLength(1);
    expect(byName(spans, 'airlock.judge')).toHaveLength(0);
  });

  it("an agent cannot opt out: a traceparent marked not sampled is traced all the same, in the caller's trace", async () => {
    const unsampled = hex(16);
    const token = testEnv().tokens['agent-ci'];
    expect((await rawRequest(proxy.url, 'GET', '/api/v1/namespaces/default/configmaps', { token, headers: { traceparent: `00-${unsampled}-${hex(8)}-00` } })).status).toBe(200);
    const spans = await jaeger.spans(unsampled, withRequestSpan(5), () => tracing.flush());
    expect(tag(byName(spans, 'airlock.proxy.request')[0]!, 'airlock.decision')).toBe('allow');
  });
});
