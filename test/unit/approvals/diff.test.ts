import { describe, expect, it } from '@jest/globals';
import { unifiedDiff } from '../../../src/approvals/diff.js';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n')).toBe('');
  });

  it('renders a change with context and diff -u hunk headers', () => {
    const a = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8'].join('\n') + '\n';
    const b = ['l1', 'l2', 'l3', 'l4', 'X5', 'l6', 'l7', 'l8'].join('\n') + '\n';
    expect(unifiedDiff(a, b, { fromLabel: 'old', toLabel: 'new' })).toBe(
      ['--- old', '+++ new', '@@ -2,7 +2,7 @@', ' l2', ' l3', ' l4', '-l5', '+X5', ' l6', ' l7', ' l8', ''].join('\n'),
    );
  });

  it('shows a whole object for a create (from empty) and separates distant hunks', () => {
    expect(unifiedDiff('', 'a: 1\nb: 2\n')).toBe('--- live\n+++ requested\n@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n');
    const a = Array.from({ length: 30 }, (_, i) => `line${i}`);
    const b = [...a];
    b[2] = 'changed2';
    b[25] = 'changed25';
    const out = unifiedDiff(a.join('\n'), b.join('\n'));
    expect(out.match(/^@@/gm)).toHaveLength(2);
    expect(out).toContain('-line2\n+changed2');
    expect(out).toContain('-line25\n+changed25');
  });

  it('handles insertions and deletions in the middle', () => {
    const out = unifiedDiff('a\nb\nc\n', 'a\nc\nd\n');
    expect(out).toBe('--- live\n+++ requested\n@@ -1,3 +1,3 @@\n a\n-b\n c\n+d\n');
  });

  it('degrades to remove/add past the size bound instead of using unbounded memory', () => {
    const a = Array.from({ length: 100 }, (_, i) => `a${i}`).join('\n');
    const b = Array.from({ length: 100 }, (_, i) => `b${i}`).join('\n');
    const out = unifiedDiff(a, b, { maxCells: 10 });
    expect(out.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'))).toHaveLength(100);
    expect(out.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'))).toHaveLength(100);
  });
});
