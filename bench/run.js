// Runs every benchmark (compiled to dist/bench by `make build`) one after another and prints their figures.
// `make bench`, or `npm run bench -- policy` to run only the ones whose name contains "policy"; arguments
// starting with `--` are passed on to each benchmark run (e.g. `npm run bench -- proxy --quick`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(process.cwd(), 'dist/bench');
const args = process.argv.slice(2);
const only = [];
const passOn = [];
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('--')) only.push(args[i]);
  else {
    passOn.push(args[i]);
    // A flag's value follows it: numbers, and the values of the flags that take a word (a directory, a list).
    const takesWord = args[i] === '--profile' || args[i] === '--phases';
    if (i + 1 < args.length && (takesWord || /^[0-9.]+$/.test(args[i + 1]))) passOn.push(args[++i]);
  }
}
let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort();
} catch {
  console.error('dist/bench not found: run `make build` (or `npx tsc -p .`) first');
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  if (only.length && !only.some((o) => f.includes(o))) continue;
  console.log(`\n=== ${f}`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f), ...passOn], { stdio: 'inherit' });
  if (r.status !== 0) { failed++; console.error(`${f} exited with ${r.status}`); }
}
process.exit(failed ? 1 : 0);
