// Masking throughput and memory: a generated 10,000-Secret LIST (~20 MB JSON), the same Secrets as a
// watch stream, and ~20 MB of container logs, each streamed through the masker in 64 KiB chunks; then
// throughput on pathological inputs (each detector's own keywords repeated, 1 MB) next to normal text.
// Run: node --expose-gc bench/masking.bench.ts   (Node 24 strips the types; a resolve hook maps the
// sources' `.js` import specifiers to their `.ts` files.) Prints figures; asserts nothing.
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

registerHooks({
  resolve(specifier, context, next) {
    if (specifier.endsWith('.js') && specifier.startsWith('.') && context.parentURL?.endsWith('.ts')) {
      const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (existsSync(fileURLToPath(url))) return next(url.href, context);
    }
    return next(specifier, context);
  },
});

const { createMaskerFactory, TextMasker, Marker } = await import('../src/masking/index.js');
const { createMetrics } = await import('../src/metrics/registry.js');

const CHUNK = 64 * 1024;
const SECRETS = 10_000;
const { maskedValuesTotal } = createMetrics();
const factory = createMaskerFactory({ key: Buffer.alloc(32, 1), metrics: { maskedValuesTotal } });
const rules = { secrets: true, configMaps: true, logs: true, envNamePatterns: [/^APP_/], patterns: [/CORP-[0-9]{8}/] };
const gc = (globalThis as { gc?: () => void }).gc;

function b64(n: number, len: number): string {
  return Buffer.from(`value-${n}-`.padEnd(len, 'x')).toString('base64');
}

function secretJson(i: number): string {
  return JSON.stringify({
    metadata: {
      name: `secret-${i}`, namespace: `team-${i % 50}`, uid: `6f1c2a4e-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(100000 + i), creationTimestamp: '2026-11-24T12:00:00Z',
      labels: { app: `app-${i % 100}`, 'app.kubernetes.io/managed-by': 'helm' },
      annotations: { 'meta.helm.sh/release-name': `release-${i % 100}` },
      managedFields: [{ manager: 'helm', operation: 'Update', apiVersion: 'v1', time: '2026-11-24T12:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { '.': {}, 'f:password': {}, 'f:token': {}, 'f:tls.crt': {} } } }],
    },
    data: { password: b64(i, 24), token: b64(i, 180), 'tls.crt': b64(i, 900) },
    type: 'Opaque',
  });
}

/** Generates the input lazily in 64 KiB chunks, so the input itself never sits in memory. */
function* chunked(parts: () => Generator<string>): Generator<Buffer> {
  let pending = '';
  for (const p of parts()) {
    pending += p;
    while (pending.length >= CHUNK) {
      yield Buffer.from(pending.slice(0, CHUNK));
      pending = pending.slice(CHUNK);
    }
  }
  if (pending) yield Buffer.from(pending);
}

function listParts(count: number): () => Generator<string> {
  return function* () {
    yield '{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"123456"},"items":[';
    for (let i = 0; i < count; i++) yield (i ? ',' : '') + secretJson(i);
    yield ']}\n';
  };
}

function* tableParts(): Generator<string> {
  yield '{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1"},"columnDefinitions":[{"name":"Name","type":"string","format":"name","description":"Name","priority":0}],"rows":[';
  for (let i = 0; i < SECRETS; i++) yield (i ? ',' : '') + `{"cells":["secret-${i}","Opaque",3,"5m"],"object":{"kind":"Secret","apiVersion":"v1",${secretJson(i).slice(1)}}`;
  yield ']}\n';
}

function* watchParts(): Generator<string> {
  for (let i = 0; i < SECRETS; i++) yield `{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1",${secretJson(i).slice(1)}}\n`;
}

function* logParts(): Generator<string> {
  const lines = [
    'I1124 12:00:00.000000 1 server.go:42] request handled path=/api/v1/pods latency=3ms',
    'level=info msg="connected" url=postgres://app:Sup3rS3cret@db.internal:5432/app',
    'level=debug msg="calling API" header="Authorization: Bearer abcdef0123456789abcdef0123456789"',
    '2026-11-24T12:00:00Z INFO using AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE region=eu-west-1',
    'plain log line without anything interesting in it, just some words to make it longer than usual',
  ];
  for (let i = 0; i < 250_000; i++) yield lines[i % lines.length] + ` n=${i}\n`;
}

interface Figures { name: string; inBytes: number; outBytes: number; seconds: number; peakRss: number; peakHeap: number; baseRss: number; baseHeap: number; masked: number }

async function run(name: string, parts: () => Generator<string>, target: { resource: string; subresource?: string; watch: boolean; contentType: string }): Promise<Figures> {
  gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  let inBytes = 0;
  let outBytes = 0;
  let n = 0;
  const before = (await maskedValuesTotal.get()).values.reduce((s, v) => s + v.value, 0);
  const src = Readable.from((function* () {
    for (const c of chunked(parts)) {
      inBytes += c.length;
      if ((++n & 7) === 0) {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
      yield c;
    }
  })(), { objectMode: false });
  const tr = factory.create({ verb: target.watch ? 'watch' : 'list', apiGroup: '', apiVersion: 'v1', namespace: undefined, ...target }, rules)!;
  const sink = new Writable({ write(c: Buffer, _e, cb) { outBytes += c.length; cb(); } });
  const t0 = process.hrtime.bigint();
  await pipeline(src, tr, sink);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
  const after = (await maskedValuesTotal.get()).values.reduce((s, v) => s + v.value, 0);
  return { name, inBytes, outBytes, seconds, peakRss, peakHeap, baseRss: base.rss, baseHeap: base.heapUsed, masked: after - before };
}

const MB = 1024 * 1024;
const results = [
  await run('LIST 10,000 Secrets (JSON)', listParts(SECRETS), { resource: 'secrets', watch: false, contentType: 'application/json' }),
  await run('LIST 2,500 Secrets (scale)', listParts(SECRETS / 4), { resource: 'secrets', watch: false, contentType: 'application/json' }),
  await run('LIST 40,000 Secrets (scale)', listParts(SECRETS * 4), { resource: 'secrets', watch: false, contentType: 'application/json' }),
  await run('Table 10,000 rows (as=Table)', tableParts, { resource: 'secrets', watch: false, contentType: 'application/json;as=Table;v=v1;g=meta.k8s.io' }),
  await run('WATCH 10,000 Secret events', watchParts, { resource: 'secrets', watch: true, contentType: 'application/json;stream=watch' }),
  await run('pods/log 250,000 lines', logParts, { resource: 'pods', subresource: 'log', watch: false, contentType: 'text/plain' }),
];
console.log(`node ${process.version}, chunk ${CHUNK / 1024} KiB, gc ${gc ? 'exposed' : 'not exposed (run with --expose-gc for stabler figures)'}`);
console.log('case                            input MB  output MB   seconds     MB/s   masked   peak RSS (+base)   peak heap (+base)');
for (const r of results) {
  console.log(
    `${r.name.padEnd(31)} ${(r.inBytes / MB).toFixed(1).padStart(8)} ${(r.outBytes / MB).toFixed(1).padStart(10)} ${r.seconds.toFixed(2).padStart(9)} ${(r.inBytes / MB / r.seconds).toFixed(1).padStart(8)} ${String(r.masked).padStart(8)}` +
      `   ${(r.peakRss / MB).toFixed(0).padStart(5)} MB (+${((r.peakRss - r.baseRss) / MB).toFixed(0)})   ${(r.peakHeap / MB).toFixed(0).padStart(5)} MB (+${((r.peakHeap - r.baseHeap) / MB).toFixed(0)})`,
  );
}
console.log('Memory is flat when the peak growth (+MB) stays far below the input size and does not grow with it.');

// Pathological inputs: 1 MB of one detector's keywords/prefixes (the old key-value regex took ~4.8 s on
// 9 KB of 'password.'), masked as a log text and as a ConfigMap value (JSON path: collect, scrub, mask).
const PATHO_SIZE = 1024 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(PATHO_SIZE / unit.length)).slice(0, PATHO_SIZE);
const normalText = Array.from({ length: 20000 }, (_, i) => `line ${i}: user=bob host=db-${i}.internal password=pw-${i} url=https://example.com/x`).join('\n').slice(0, PATHO_SIZE);
const pathological: Array<[string, string]> = [
  ['text with 20,000 password=… hits', normalText],
  ["'password.' x N", fill('password.')],
  ["'password=' x N", fill('password=')],
  ["'eyJ' x N", fill('eyJ')],
  ["'eyJaaaaaaaaaa.' x N", fill('eyJaaaaaaaaaa.')],
  ["'-----BEGIN ' x N", fill('-----BEGIN ')],
  ["'a://a:b@' x N", fill('a://a:b@')],
  ["'xoxb-' x N", fill('xoxb-')],
  ["'glpat-' x N", fill('glpat-')],
  ["'Bearer ' x N", fill('Bearer ')],
  ["'AKIA' x N", fill('AKIA')],
  ["'password' + 1 MB spaces", 'password' + ' '.repeat(PATHO_SIZE)],
];
const text = new TextMasker(new Marker(Buffer.alloc(32, 1)), rules.patterns);
console.log('\npathological inputs (1 MB each)         text MB/s   ConfigMap JSON MB/s');
for (const [name, input] of pathological) {
  let t0 = process.hrtime.bigint();
  text.mask(input, 'log', {});
  const textS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cm = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'p' }, data: { value: input, 'app.yaml': 'token: ' + input.slice(0, 64 * 1024) } });
  const tr = factory.create({ verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'configmaps', watch: false, contentType: 'application/json' }, rules)!;
  const sink = new Writable({ write(_c: Buffer, _e, cb) { cb(); } });
  t0 = process.hrtime.bigint();
  await pipeline(Readable.from([Buffer.from(cm)]), tr, sink);
  const jsonS = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name.padEnd(38)} ${(input.length / MB / textS).toFixed(1).padStart(9)} ${(cm.length / MB / jsonS).toFixed(1).padStart(16)}`);
}
