import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.AIRLOCK_TEST_OWNED;
  if (!dir) return;
  execFileSync('bash', [join(process.cwd(), 'hack/cluster.sh'), 'down', dir], { stdio: 'inherit' });
  if (!process.env.AIRLOCK_KEEP_TEST_CLUSTER) rmSync(dir, { recursive: true, force: true });
}
