import { describe, expect, it } from '@jest/globals';
import { LogMaskStream, Marker, TextMasker, detectors, MARKER_PREFIX, createMaskerFactory } from '../../../src/masking/index.js';
import { KEY, rules, split, through } from './helpers.js';

const marker = new Marker(KEY);
const logStream = (patterns: RegExp[] = [], maxLineBytes?: number) => new LogMaskStream(new TextMasker(marker, patterns), { maxLineBytes });

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun',
  'VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK',
  '-----END RSA PRIVATE KEY-----',
];

describe('log masking', () => {
  it('masks a fake AWS key pair, a JWT, URL passwords, bearer tokens and key=value shapes', async () => {
    const lines = [
      'starting app version=1.2.3',
      'using AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      `got token ${JWT} from idp`,
      'connecting to postgres://app:Sup3rS3cret@db.internal:5432/app',
      'GET /api Authorization: Bearer abcdef0123456789abcdef0123456789',
      'config password=hunter22 user=bob',
      'secret: my-very-secret-value',
      'secretName: my-secret (a reference, not a value)',
      'slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      'gcp AIzaSyA-1234567890abcdefghijklmnopqrstu github ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    ];
    const out = await through(logStream(), [lines.join('\n') + '\n']);
    const o = out.split('\n');
    expect(o[0]).toBe(lines[0]);
    for (const leak of ['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI', JWT, 'Sup3rS3cret', 'abcdef0123456789abcdef', 'hunter22', 'my-very-secret-value', 'xoxb-', 'sk_live_', 'AIzaSy', 'ghp_']) {
      expect(out).not.toContain(leak);
    }
    expect(o[1]).toBe(`using AWS_ACCESS_KEY_ID=${marker.mark('AKIAIOSFODNN7EXAMPLE')}`);
    expect(o[4]).toBe(`connecting to postgres://app:${marker.mark('Sup3rS3cret')}@db.internal:5432/app`);
    expect(o[6]).toBe(`config password=${marker.mark('hunter22')} user=bob`);
    expect(o[8]).toBe(lines[8]);
    expect(o).toHaveLength(lines.length + 1);
  });

  it('masks every line of a PEM block split across chunks, also with timestamps', async () => {
    const text = ['before', ...PEM, 'after', ''].join('\n');
    const whole = await through(logStream(), [text]);
    for (const mode of ['bytes', 3, 17] as const) {
      expect(await through(logStream(), split(Buffer.from(text), mode))).toBe(whole);
    }
    const o = whole.split('\n');
    expect(o[0]).toBe('before');
    for (let i = 1; i <= PEM.length; i++) expect(o[i]).toBe(marker.mark(PEM[i - 1]!));
    expect(o[PEM.length + 1]).toBe('after');
    const ts = PEM.map((l) => `2026-11-24T13:00:00.123456789Z ${l}`).join('\n') + '\n2026-11-24T13:00:01.000000000Z done\n';
    const out = await through(logStream(), [ts]);
    expect(out).not.toContain('MIIE');
    expect(out).toContain('done');
  });

  it('stops masking when a BEGIN line is not followed by key material', async () => {
    const out = await through(logStream(), ['log: -----BEGIN PRIVATE KEY----- missing\nnormal line here\n']);
    expect(out.split('\n')[1]).toBe('normal line here');
  });

  it('bounds the line buffer: an over-long line is masked in pieces and no secret survives', async () => {
    const secretLine = 'x'.repeat(3000) + ' password=topsecret ' + 'y'.repeat(3000) + '\n';
    const t = logStream([], 1024);
    const out = await through(t, split(Buffer.from(secretLine), 500));
    expect(out).not.toContain('topsecret');
    expect(out.replace(/airlock-masked:sha256:[0-9a-f]{8}/g, '').length).toBeLessThan(secretLine.length);
  });

  it('emits complete lines as they arrive (follow) and keeps CRLF and a final partial line', async () => {
    const t = logStream();
    const seen: string[] = [];
    t.on('data', (c: Buffer) => seen.push(c.toString()));
    t.write('line one\r\nline tw');
    await new Promise((r) => setImmediate(r));
    expect(seen.join('')).toBe('line one\r\n');
    t.end('o token=abcdefgh');
    await new Promise((r) => t.on('end', r));
    expect(seen.join('')).toBe(`line one\r\nline two token=${marker.mark('abcdefgh')}`);
  });

  it('emits a partial line after a quiet period (logs -f prompts), masked', async () => {
    const t = new LogMaskStream(new TextMasker(marker), { partialLineFlushMs: 200 });
    const seen: string[] = [];
    t.on('data', (c: Buffer) => seen.push(c.toString()));
    t.write('Enter value: password=abcdefgh');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([]);
    await new Promise((r) => setTimeout(r, 400));
    expect(seen.join('')).toBe(`Enter value: password=${marker.mark('abcdefgh')}`);
    t.end(' more\n');
    await new Promise((r) => t.on('end', r));
    expect(seen.join('')).toBe(`Enter value: password=${marker.mark('abcdefgh')} more\n`);
  });

  it('applies user patterns and is used by the factory for pods/log', async () => {
    const f = createMaskerFactory({ key: KEY });
    const tr = f.create({ verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'pods', subresource: 'log', namespace: 'd', name: 'p', watch: false, contentType: 'text/plain' }, rules({ patterns: [/EMP-\d{6}/] }))!;
    const out = await through(tr, ['employee EMP-123456 logged in\n']);
    expect(out).toBe(`employee ${marker.mark('EMP-123456')} logged in\n`);
  });

  it('exports one detector list that both maskers use', () => {
    const names = detectors.map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['pem-private-key', 'jwt', 'aws-access-key-id', 'aws-secret-access-key', 'github-token', 'slack-token', 'stripe-key', 'url-password', 'authorization-header', 'key-value']));
    const tm = new TextMasker(marker);
    const counts = {};
    expect(tm.mask(`x ${MARKER_PREFIX}00000000 y`, 'log', counts)).toBe(`x ${MARKER_PREFIX}00000000 y`);
    expect(tm.mask(`password=${MARKER_PREFIX}00000000`, 'log', counts)).toBe(`password=${MARKER_PREFIX}00000000`);
    expect(counts).toEqual({});
  });
});
