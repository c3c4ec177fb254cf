// OpenTelemetry traces of agent requests: one server span per request (continuing the caller's
// `traceparent`) with a child span per stage, exported over OTLP/HTTP in batches. Nothing is global: the
// provider is made by startTracing() and handed to the proxy, so tests and several proxies in one process
// never share state, and with tracing off every call is a no-op that costs nothing.
import { context as otelContext, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, SamplingDecision, TracerProvider, type Sampler, type SamplingResult, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export interface TracingOptions {
  /** OTLP/HTTP traces URL (for example http://otel-collector:4318/v1/traces). */
  endpoint: string;
  /** Fraction of agent requests traced (the caller's traceparent never decides it). Default 1. */
  sampleRatio?: number;
  /** service.instance.id: which replica served the request. */
  instance?: string;
  /** Replaces the OTLP exporter (tests of the span shape). */
  exporter?: SpanExporter;
}

/** The stages a request passes through, one span each (names are stable: dashboards query them). */
export type Stage = 'authn' | 'dry-run' | 'judge' | 'upstream' | 'masking' | 'record';

export interface Tracing {
  /** Starts the span of one agent request, continuing an incoming `traceparent`. */
  startRequest(headers: IncomingHttpHeaders, attributes: Attributes): RequestTrace;
  /** Sends the spans that ended so far. */
  flush(): Promise<void>;
  /** Sends what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

export interface RequestTrace {
  /** Runs fn inside a child span of the request; the span ends when fn settles (an exception marks it failed). */
  stage<T>(stage: Stage, fn: (span: StageSpan) => Promise<T>): Promise<T>;
  /** Starts a child span ended by the caller (a stage that spans callbacks, such as upstream). */
  begin(stage: Stage): StageSpan;
  set(attributes: Attributes): void;
  /** Ends the request span with the HTTP status it was answered with. */
  end(status: number | undefined): void;
}

export interface StageSpan {
  set(attributes: Attributes): void;
  /** The W3C trace context headers naming this span (so kube-apiserver's own spans join the trace). */
  inject(headers: OutgoingHttpHeaders): void;
  end(error?: unknown): void;
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

const NO_STAGE: StageSpan = { set: () => undefined, inject: () => undefined, end: () => undefined };
/** What a request gets when tracing is off. */
export const NO_TRACE: RequestTrace = {
  stage: (_stage, fn) => fn(NO_STAGE),
  begin: () => NO_STAGE,
  set: () => undefined,
  end: () => undefined,
};

export function startTracing(opts: TracingOptions): Tracing {
  const ratio = opts.sampleRatio ?? 1;
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`tracing sample ratio must be within 0..1, got ${ratio}`);
  const exporter = opts.exporter ?? new OTLPTraceExporter({ url: opts.endpoint });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'airlock', ...(opts.instance ? { 'service.instance.id': opts.instance } : {}) }),
    // The agent may be hostile: its traceparent links our spans into its trace, but neither its sampled
    // flag nor its trace id (which a trace-id ratio sampler would hash) may keep a request out of traces.
    sampler: new ParentBasedSampler({ root: new DrawnRatioSampler(ratio), remoteParentSampled: new DrawnRatioSampler(ratio), remoteParentNotSampled: new DrawnRatioSampler(ratio) }),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 8192, scheduledDelayMillis: 1000 })],
  });
  const tracer = provider.getTracer('airlock.proxy');
  const propagator = new W3CTraceContextPropagator();
  return {
    startRequest(headers, attributes) {
      const parent = propagator.extract(otelContext.active(), headers, headerGetter);
      const root = tracer.startSpan('airlock.proxy.request', { kind: SpanKind.SERVER, attributes }, parent);
      return new SpanTrace(tracer, propagator, root, trace.setSpan(parent, root));
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** Keeps a request with probability `ratio`, drawn here: nothing the caller sends moves the odds. */
class DrawnRatioSampler implements Sampler {
  private readonly ratio: number;
  constructor(ratio: number) {
    this.ratio = ratio;
  }
  shouldSample(): SamplingResult {
    return { decision: this.ratio >= 1 || Math.random() < this.ratio ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
  }
  toString(): string {
    return `DrawnRatioSampler{${this.ratio}}`;
  }
}

class SpanTrace implements RequestTrace {
  private readonly tracer: Tracer;
  private readonly propagator: W3CTraceContextPropagator;
  private readonly root: Span;
  private readonly ctx: Context;
  private ended = false;

  constructor(tracer: Tracer, propagator: W3CTraceContextPropagator, root: Span, ctx: Context) {
    this.tracer = tracer;
    this.propagator = propagator;
    this.root = root;
    this.ctx = ctx;
  }

  async stage<T>(stage: Stage, fn: (span: StageSpan) => Promise<T>): Promise<T> {
    const span = this.begin(stage);
    try {
      const value = await fn(span);
      span.end();
      return value;
    } catch (err) {
      span.end(err);
      throw err;
    }
  }

  begin(stage: Stage): StageSpan {
    const span = this.tracer.startSpan(`airlock.${stage}`, { kind: stage === 'upstream' ? SpanKind.CLIENT : SpanKind.INTERNAL }, this.ctx);
    const spanCtx = trace.setSpan(this.ctx, span);
    let open = true;
    return {
      set: (attributes) => span.setAttributes(attributes),
      inject: (headers) => this.propagator.inject(spanCtx, headers, { set: (carrier, key, value) => (carrier[key] = value) }),
      end: (error) => {
        if (!open) return;
        open = false;
        if (error !== undefined) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        }
        span.end();
      },
    };
  }

  set(attributes: Attributes): void {
    this.root.setAttributes(attributes);
  }

  end(status: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (status !== undefined) {
      this.root.setAttribute('http.response.status_code', status);
      if (status >= 500) this.root.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.root.end();
  }
}
