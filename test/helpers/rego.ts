// Compiles a Rego fixture (test/fixtures/policy/rego/) to policy.wasm with the real opa CLI, in a
// temporary directory that is removed afterwards.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function compileRego(opa: string, file: string, entrypoint: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-rego-'));
  try {
    copyFileSync(join(process.cwd(), 'test/fixtures/policy/rego', file), join(dir, file));
    execFileSync(opa, ['build', '-t', 'wasm', '-e', entrypoint, file, '-o', 'bundle.tar.gz'], { cwd: dir });
    execFileSync('tar', ['xzf', 'bundle.tar.gz', '/policy.wasm'], { cwd: dir, stdio: 'ignore' });
    return readFileSync(join(dir, 'policy.wasm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
