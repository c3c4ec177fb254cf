// Starts one real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) per test
// run with hack/cluster.sh, unless AIRLOCK_TEST_ENV already points at a running one's env.json.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default async function globalSetup(): Promise<void> {
  if (process.env.AIRLOCK_TEST_ENV) return;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const started = Date.now();
  execFileSync('bash', [join(process.cwd(), 'hack/cluster.sh'), 'up', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.env.AIRLOCK_TEST_ENV = join(dir, 'env.json');
  process.env.AIRLOCK_TEST_OWNED = dir;
  console.log(`\n[global-setup] control plane ready in ${((Date.now() - started) / 1000).toFixed(1)}s (${dir})`);
}
