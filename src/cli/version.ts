// The version every command prints for --version: the package's, read from package.json beside dist/ or src/.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export function airlockVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'airlock' && pkg.version) return pkg.version;
    } catch { /* not here: look further up */ }
  }
  return 'unknown';
}
