// Generates crds/*.yaml from src/api/schemas.ts. `npm run gen:crds` (after build) or `node --import ... src/api/generate.ts`.
// With --check it exits 1 when the files on disk differ from what would be generated.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { CRDS, crdManifest } from './schemas.js';
import { GROUP } from './types.js';

export function renderCrds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const def of CRDS) {
    const header = '# Generated from src/api/schemas.ts by `make crds`. Do not edit by hand.\n';
    out.set(`${GROUP}_${def.plural}.yaml`, header + yaml.dump(crdManifest(def), { noRefs: true, lineWidth: 120, sortKeys: false }));
  }
  return out;
}

export function crdDir(): string {
  // dist/src/api or src/api -> repo root
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return join(dir, 'crds');
    } catch {
      dir = resolve(dir, '..');
    }
  }
  throw new Error('cannot find the repository root (package.json) above ' + dirname(fileURLToPath(import.meta.url)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const dir = crdDir();
  const check = process.argv.includes('--check');
  let drift = 0;
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of renderCrds()) {
    const path = join(dir, file);
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch { /* new file */ }
    if (current === text) continue;
    if (check) { console.error(`crds/${file} is out of date: run make crds`); drift++; }
    else { writeFileSync(path, text); console.log(`wrote crds/${file}`); }
  }
  process.exit(drift ? 1 : 0);
}
