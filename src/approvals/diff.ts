// A small line diff (longest common subsequence) rendered as a unified diff, for showing approvers what a
// held request changes. Inputs are bounded by the caller; past maxCells the diff degrades to remove-all/add-all.

export interface DiffOptions {
  fromLabel?: string;
  toLabel?: string;
  context?: number;
  /** Upper bound on the LCS table size (lines(a) * lines(b)); default 4e6. */
  maxCells?: number;
}

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

function splitLines(s: string): string[] {
  if (s === '') return [];
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function editScript(a: string[], b: string[], maxCells: number): Op[] {
  // Trim common prefix/suffix first: typical edits touch a few lines of a large manifest.
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const ops: Op[] = [];
  for (let i = 0; i < pre; i++) ops.push({ kind: ' ', line: a[i]!, a: i, b: i });
  const am = a.slice(pre, a.length - suf);
  const bm = b.slice(pre, b.length - suf);
  const n = am.length;
  const m = bm.length;
  if (n * m > maxCells) {
    am.forEach((line, i) => ops.push({ kind: '-', line, a: pre + i, b: pre }));
    bm.forEach((line, j) => ops.push({ kind: '+', line, a: pre + n, b: pre + j }));
  } else {
    // lcs[i][j] = LCS length of am[i:] and bm[j:], stored row-major in one typed array.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        ops.push({ kind: ' ', line: am[i]!, a: pre + i, b: pre + j });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
        ops.push({ kind: '-', line: am[i]!, a: pre + i, b: pre + j }); // removals first, as diff -u prints them
        i++;
      } else {
        ops.push({ kind: '+', line: bm[j]!, a: pre + i, b: pre + j });
        j++;
      }
    }
  }
  for (let k = 0; k < suf; k++) ops.push({ kind: ' ', line: a[a.length - suf + k]!, a: a.length - suf + k, b: b.length - suf + k });
  return ops;
}

/** Unified diff of two texts ("" when equal). Line numbers in hunk headers are 1-based as in diff -u. */
export function unifiedDiff(oldText: string, newText: string, opts: DiffOptions = {}): string {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const ops = editScript(a, b, opts.maxCells ?? 4_000_000);
  if (!ops.some((o) => o.kind !== ' ')) return '';
  const ctx = opts.context ?? 3;
  const out: string[] = [`--- ${opts.fromLabel ?? 'live'}`, `+++ ${opts.toLabel ?? 'requested'}`];
  let k = 0;
  while (k < ops.length) {
    // Find the next change and the extent of its hunk (changes closer than 2*ctx are merged).
    while (k < ops.length && ops[k]!.kind === ' ') k++;
    if (k >= ops.length) break;
    const start = Math.max(0, k - ctx);
    let end = k;
    let lastChange = k;
    while (end < ops.length) {
      if (ops[end]!.kind !== ' ') lastChange = end;
      else if (end - lastChange > 2 * ctx) break;
      end++;
    }
    end = Math.min(ops.length, lastChange + ctx + 1);
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.kind !== '+').length;
    const bCount = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aCount ? hunk.find((o) => o.kind !== '+')!.a + 1 : hunk[0]!.a;
    const bStart = bCount ? hunk.find((o) => o.kind !== '-')!.b + 1 : hunk[0]!.b;
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`);
    for (const o of hunk) out.push(o.kind + o.line);
    k = end;
  }
  return out.join('\n') + '\n';
}
