import { describe, expect, it } from '@jest/globals';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { NO_TRACE, startTracing } from '../../src/tracing/tracer.js';

const traced = () => {
  const exporter = new InMemorySpanExporter();
  return { exporter, tracing: startTracing({ endpoint: 'http://127.0.0.1:9/v1/traces', exporter, instance: 'unit' }) };
};

describe('request traces', () => {
  it('continues a valid traceparent and names each stage under the request span', async () => {
    const { exporter, tracing } = traced();
    const t = tracing.startRequest({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, { 'url.path': '/api' });
    await t.stage('authn', async () => undefined);
    const up = t.begin('upstream');
    const headers: Record<string, string> = {};
    up.inject(headers);
    up.end();
    t.end(200);
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'airlock.proxy.request')!;
    expect(root.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(root.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(root.attributes['http.response.status_code']).toBe(200);
    const upstream = spans.find((s) => s.name === 'airlock.upstream')!;
    expect(upstream.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    // What goes to kube-apiserver names the upstream span, in the same trace.
    expect(headers.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${upstream.spanContext().spanId}-01`);
    await tracing.shutdown();
  });

  it('starts a new trace for a malformed or hostile traceparent, and never throws', async () => {
    const { exporter, tracing } = traced();
    for (const bad of ['garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'a'.repeat(5000)}`, ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x']]) {
      const t = tracing.startRequest({ traceparent: bad as string, tracestate: 'k='.repeat(4000) }, {});
      t.end(400);
    }
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(5);
    for (const s of spans.slice(0, 4)) expect(s.parentSpanContext).toBeUndefined();
    await tracing.shutdown();
  });

  it('marks a failed stage and a 5xx answer as errors; a span is ended once', async () => {
    const { exporter, tracing } = traced();
    const t = tracing.startRequest({}, {});
    await expect(t.stage('judge', async () => { throw new Error('engine broke'); })).rejects.toThrow('engine broke');
    t.end(502);
    t.end(200);
    await tracing.flush();
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['airlock.judge', 'airlock.proxy.request']);
    expect(spans.find((s) => s.name === 'airlock.judge')!.status).toMatchObject({ code: 2, message: 'engine broke' });
    expect(spans.find((s) => s.name === 'airlock.proxy.request')!.attributes['http.response.status_code']).toBe(502);
    await tracing.shutdown();
  });

  it('refuses a sample ratio outside 0..1; with tracing off every call is a no-op', async () => {
    expect(() => startTracing({ endpoint: 'http://x', sampleRatio: 1.5 })).toThrow('within 0..1');
    await expect(NO_TRACE.stage('authn', async () => 7)).resolves.toBe(7);
    const h: Record<string, string> = {};
    NO_TRACE.begin('upstream').inject(h);
    expect(h).toEqual({});
  });

  it('samples by its own draw: neither the sampled flag nor the trace id of a caller decides', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ endpoint: 'http://127.0.0.1:9/v1/traces', exporter, sampleRatio: 0.5 });
    // The same trace id and an unsampled flag, 400 times: a trace-id sampler would keep all or none.
    for (let i = 0; i < 400; i++) tracing.startRequest({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }, {}).end(200);
    await tracing.flush();
    const kept = exporter.getFinishedSpans().length;
    expect(kept).toBeGreaterThan(100);
    expect(kept).toBeLessThan(300);
    await tracing.shutdown();
  });
});
