// Recording durability (a recorder process SIGKILLed mid-burst) and RBAC-gated access to recordings.
import { describe, expect, it, afterAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clientFor, eventually, testEnv, uniqueName } from '../helpers/env.js';
import { FileRecorder, listSessionFiles, readSession, verifySession } from '../../src/recording/index.js';
import { main as sessionsCli } from '../../src/cli/sessions.js';
import { main as verifyCli } from '../../src/cli/verify.js';

const work = mkdtempSync(join(tmpdir(), 'airlock-rec-it-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The child runs the TypeScript sources with Node's own type stripping; a resolve hook maps the ESM
// `.js` import specifiers of src/ to their `.ts` files.
const CHILD = `
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
registerHooks({
  resolve(specifier, context, next) {
    if (specifier.endsWith('.js') && specifier.startsWith('.') && context.parentURL && context.parentURL.endsWith('.ts')) {
      const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
      if (existsSync(fileURLToPath(url))) return next(url.href, context);
    }
    return next(specifier, context);
  },
});
const [repo, dir, policy] = process.argv.slice(2);
const { FileRecorder } = await import(repo + '/src/recording/file-recorder.ts');
const rec = new FileRecorder({ dir, housekeepingMs: 0, fsync: policy === 'always' ? 'always' : { intervalMs: Number(policy) }, maxFileBytes: 64 * 1024 });
const user = { username: 'agent-kill', groups: ['airlock:agents'] };
const sessionId = rec.sessionFor(user);
process.stdout.write('session ' + sessionId + '\\n');
let i = 0;
for (;;) {
  const wave = [];
  for (let k = 0; k < 16; k++, i++) {
    const id = 'req-' + i;
    wave.push(rec.record({
      type: 'request', time: new Date().toISOString(), sessionId, requestId: id, user, method: 'GET',
      path: '/api/v1/namespaces/default/configmaps/c' + i, request: { verb: 'get', resource: 'configmaps', namespace: 'default', name: 'c' + i },
      decision: { action: 'allow' }, status: 200, latencyMs: 1, responseBody: { pad: 'x'.repeat(200 + (i % 50)) },
    }).then(() => process.stdout.write('ack ' + id + '\\n')));
  }
  await Promise.all(wave);
}
`;

async function killMidBurst(policy: string): Promise<{ dir: string; sessionId: string; acked: string[] }> {
  const dir = join(work, `kill-${policy}`);
  const script = join(work, `child-${policy}.mjs`);
  writeFileSync(script, CHILD);
  const child = spawn(process.execPath, [script, resolve(process.cwd()), dir, policy], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let sessionId = '';
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, sig) => r(sig)));
  await new Promise<void>((resolveBurst, reject) => {
    const timer = setTimeout(() => reject(new Error(`child made too little progress: ${acked.length} acks; stderr: ${stderr}`)), 30000);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('session ')) sessionId = line.slice(8);
        else if (line.startsWith('ack ')) acked.push(line.slice(4));
      }
      if (acked.length >= 400) {
        clearTimeout(timer);
        child.kill('SIGKILL'); // mid-burst: more records are in flight
        resolveBurst();
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (acked.length < 400) reject(new Error(`child exited early: ${stderr}`));
    });
  });
  expect(await exited).toBe('SIGKILL');
  // Acks already written to the pipe before the kill may still be in our buffer.
  for (const line of buf.split('\n')) if (line.startsWith('ack ')) acked.push(line.slice(4));
  return { dir, sessionId, acked };
}

describe('recording durability', () => {
  for (const policy of ['always', '5']) {
    it(`keeps every acknowledged record when the recorder is SIGKILLed mid-burst (fsync ${policy === 'always' ? 'always' : `interval ${policy} ms`})`, async () => {
      const { dir, sessionId, acked } = await killMidBurst(policy);
      expect(sessionId).not.toBe('');
      const session = listSessionFiles(dir).find((s) => s.sessionId === sessionId)!;
      expect(session.segments.length).toBeGreaterThan(1); // rotation happened during the burst
      const v = verifySession(session, dir);
      expect(v.error).toBeUndefined();
      expect(v.ok).toBe(true);
      expect(v.warnings.every((w) => /torn final line|no session-end/.test(w.message))).toBe(true);
      const present = new Set(readSession(session).map((r) => r.requestId));
      const missing = acked.filter((id) => !present.has(id));
      expect(missing).toEqual([]);
      expect(present.size).toBeGreaterThanOrEqual(acked.length);
      // The CLI agrees (exit 0) and a restarted recorder continues the same chain.
      expect(await verifyCli(['--dir', dir, sessionId], { out: () => undefined, err: () => undefined })).toBe(0);
      const again = new FileRecorder({ dir, housekeepingMs: 0 });
      await again.record({ type: 'request', time: new Date().toISOString(), sessionId, requestId: 'after-restart', user: { username: 'agent-kill', groups: [] }, method: 'GET', path: '/version', request: { verb: 'get' }, decision: { action: 'allow' }, status: 200, latencyMs: 1 });
      await again.close();
      expect(verifySession(listSessionFiles(dir).find((s) => s.sessionId === sessionId)!, dir)).toMatchObject({ ok: true, ended: true });
    }, 60000);
  }
});

describe('access to recordings follows RBAC (SelfSubjectAccessReview on recordings.airlock.dev)', () => {
  it('lets an identity with get on recordings read them through the CLI and refuses others', async () => {
    const admin = await clientFor('admin');
    const env = testEnv();
    const role = uniqueName('recordings-reader');
    await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: role },
      rules: [{ apiGroups: ['airlock.dev'], resources: ['recordings'], verbs: ['get', 'list'] }],
    });
    await admin.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'bob' }],
    });
    try {
      const dir = join(work, 'rbac');
      const r = new FileRecorder({ dir, housekeepingMs: 0 });
      const id = r.sessionFor({ username: 'agent-ci', groups: [] });
      await r.close();
      const run = async (user: 'bob' | 'alice' | 'mallory' | 'admin') => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await sessionsCli(['--dir', dir, '-o', 'json', '--check-access', '--kubeconfig', env.kubeconfigs[user]], { out: (s) => void out.push(s), err: (s) => void err.push(s) });
        return { code, out: out.join(''), err: err.join('') };
      };
      const bob = await eventually(async () => {
        const res = await run('bob');
        return res.code === 0 ? res : undefined;
      }, 20000, 'bob to be allowed');
      expect(bob.out).toContain(id);
      for (const who of ['alice', 'mallory'] as const) {
        const res = await run(who);
        expect(res.code).toBe(3);
        expect(res.out).toBe('');
        expect(res.err).toMatch(/access denied/);
      }
      expect((await run('admin')).code).toBe(0);
    } finally {
      await admin.delete(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${role}`).catch(() => undefined);
      await admin.delete(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`).catch(() => undefined);
    }
  });
});
