// The operator's informers must recover by themselves when kube-apiserver restarts. This test runs its own
// private control plane (so restarting its API server does not disturb other test files).
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/k8s/client.js';
import { Informer, type KObject } from '../../src/k8s/informer.js';
import { eventually } from '../helpers/env.js';

const cluster = (cmd: string, dir: string): void => {
  execFileSync('bash', [join(process.cwd(), 'hack/cluster.sh'), cmd, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
};

describe('informer recovery across a kube-apiserver restart', () => {
  let dir: string;
  let client: KubeClient;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airlock-restart-'));
    cluster('up', dir);
    const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as { kubeconfigs: { admin: string } };
    client = await KubeClient.load(env.kubeconfigs.admin);
  }, 120000);
  afterAll(() => {
    cluster('down', dir);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps delivering events after the API server is killed and started again', async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const errors: unknown[] = [];
    const inf = new Informer<KObject>(client, path, { labelSelector: 'airlock-test=restart', onError: (e) => errors.push(e), maxBackoffMs: 1000 });
    const seen = new Set<string>();
    inf.on('add', (o: KObject) => seen.add(String(o.metadata.name)));
    inf.start();
    await inf.waitForSync();
    await client.create(path, { metadata: { name: 'before', labels: { 'airlock-test': 'restart' } } });
    await eventually(() => seen.has('before'), 10000, 'event before restart');

    cluster('restart-apiserver', dir);

    await eventually(async () => {
      await client.create(path, { metadata: { name: 'after', labels: { 'airlock-test': 'restart' } } });
      return true;
    }, 30000, 'create after restart');
    await eventually(() => seen.has('after'), 30000, 'event after restart');
    expect(inf.get('after', 'default')).toBeDefined();
    expect(errors.length).toBeGreaterThan(0); // the outage was noticed and survived
    inf.stop();
  }, 90000);
});
