// A real trace receiver for the tracing tests: Jaeger v2 (built by hack/jaeger.sh) with in-memory storage,
// receiving OTLP/HTTP and answering its query API, on free loopback ports.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './airlock-process.js';
import { eventually } from './env.js';

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; type: string; value: unknown }[];
  processID: string;
}

export interface Jaeger {
  /** The OTLP/HTTP traces URL to export to. */
  otlpTracesUrl: string;
  /** Jaeger's query API (GET /api/traces/<id>). */
  queryUrl: string;
  /**
   * The spans of one trace once `complete` says they all arrived (`flush` runs before each look): spans are
   * exported as they end, the request's own span last.
   */
  spans(traceId: string, complete: (spans: JaegerSpan[]) => boolean, flush?: () => Promise<void>): Promise<JaegerSpan[]>;
  stop(): Promise<void>;
}

export async function startJaeger(): Promise<Jaeger> {
  const bin = execFileSync('bash', [join(process.cwd(), 'hack/jaeger.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const [otlp, query, grpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'airlock-jaeger-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
extensions:
  healthcheckv2:
    use_v2: true
    http: {endpoint: "127.0.0.1:${health}"}
  jaeger_storage:
    backends:
      mem: {memory: {max_traces: 10000}}
  jaeger_query:
    storage: {traces: mem}
    http: {endpoint: "127.0.0.1:${query}"}
    grpc: {endpoint: "127.0.0.1:${grpc}"}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:${otlp}"}
exporters:
  jaeger_storage_exporter: {trace_storage: mem}
`,
  );
  const proc: ChildProcess = spawn(bin, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const queryUrl = `http://127.0.0.1:${query}`;
  await eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`jaeger exited (${proc.exitCode}): ${stderr}`);
      const r = await fetch(`${queryUrl}/api/services`).catch(() => undefined);
      return r?.ok;
    },
    30000,
    'jaeger query API up',
  );
  return {
    otlpTracesUrl: `http://127.0.0.1:${otlp}/v1/traces`,
    queryUrl,
    async spans(traceId, complete, flush) {
      return eventually(
        async () => {
          await flush?.();
          const r = await fetch(`${queryUrl}/api/traces/${traceId}`);
          if (!r.ok) return undefined;
          const body = (await r.json()) as { data?: { spans: JaegerSpan[] }[] };
          const spans = body.data?.[0]?.spans ?? [];
          return complete(spans) ? spans : undefined;
        },
        20000,
        `the spans of trace ${traceId} in jaeger`,
      );
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A span's tag value by key. */
export function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}
