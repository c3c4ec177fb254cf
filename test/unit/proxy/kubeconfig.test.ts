import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import yaml from 'js-yaml';
import { main, parseArgs } from '../../../src/cli/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-kc-'));
const ca = join(dir, 'ca.crt');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=t', '-keyout', join(dir, 'ca.key'), '-out', ca], { stdio: 'ignore' });

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(argv, { stdout, stderr });
  return { code, out, err };
}

describe('kubectl airlock kubeconfig', () => {
  it('prints a kubeconfig pointing at the proxy with its CA and the token', async () => {
    const r = await run(['--agent', 'ci-bot', '--server', 'https://127.0.0.1:8443', '--ca-file', ca, '--token', 'abc', '--namespace', 'apps']);
    expect(r.code).toBe(0);
    const cfg = yaml.load(r.out) as { clusters: { cluster: Record<string, string> }[]; users: { name: string; user: Record<string, unknown> }[]; contexts: { context: Record<string, string> }[]; 'current-context': string };
    expect(cfg.clusters[0]!.cluster.server).toBe('https://127.0.0.1:8443');
    expect(Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString()).toBe(readFileSync(ca, 'utf8'));
    expect(cfg.users[0]).toEqual({ name: 'ci-bot', user: { token: 'abc' } });
    expect(cfg.contexts[0]!.context).toEqual({ cluster: 'airlock-ci-bot', user: 'ci-bot', namespace: 'apps' });
    expect(cfg['current-context']).toBe('airlock-ci-bot');
  });

  it('supports token files and the OIDC exec plugin', async () => {
    const tf = await run(['--agent=a', '--server=https://p:1', `--ca-file=${ca}`, '--token-file=/var/run/secrets/token']);
    expect((yaml.load(tf.out) as { users: { user: unknown }[] }).users[0]!.user).toEqual({ tokenFile: '/var/run/secrets/token' });
    const ex = await run(['--agent', 'a', '--server', 'https://p:1', '--ca-file', ca, '--exec-oidc', 'https://idp.example', '--oidc-client-id', 'airlock', '--oidc-extra-scope', 'groups']);
    const user = (yaml.load(ex.out) as { users: { user: { exec: { command: string; args: string[] } } }[] }).users[0]!.user;
    expect(user.exec.command).toBe('kubectl');
    expect(user.exec.args).toEqual(['oidc-login', 'get-token', '--oidc-issuer-url=https://idp.example', '--oidc-client-id=airlock', '--oidc-extra-scope=groups']);
  });

  it.each([
    [['--server', 'https://p:1', '--ca-file', ca, '--token', 't'], '--agent is required'],
    [['--agent', 'a', '--server', 'http://p:1', '--ca-file', ca, '--token', 't'], 'https://'],
    [['--agent', 'a', '--server', 'https://p:1', '--ca-file', ca], 'exactly one of'],
    [['--agent', 'a', '--server', 'https://p:1', '--ca-file', ca, '--token', 't', '--token-file', 'f'], 'exactly one of'],
    [['--agent', 'a', '--server', 'https://p:1', '--ca-file', ca, '--exec-oidc', 'https://idp'], '--oidc-client-id'],
    [['--agent', 'a', '--bogus', 'x'], 'unknown flag --bogus'],
  ])('refuses %j', async (argv, msg) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(msg);
    expect(r.out).toBe('');
  });

  it('refuses a CA file that is not a certificate', async () => {
    const bad = join(dir, 'bad.crt');
    writeFileSync(bad, 'not a cert');
    const r = await run(['--agent', 'a', '--server', 'https://p:1', '--ca-file', bad, '--token', 't']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('not a PEM certificate');
  });

  it('parses repeated flags and rejects duplicates of single-valued ones', () => {
    expect(() => parseArgs(['--agent', 'a', '--agent', 'b'])).toThrow(/more than once/);
  });
});
