// How deep JSON may nest on its way through Airlock. Kubernetes objects stay far below this (a deep CRD
// schema nests a few dozen levels); the walkers that mask, judge and record recurse, so a body nested
// thousands of levels deep would exhaust the stack. Anything deeper is refused, never passed unmasked.
export const MAX_JSON_DEPTH = 200;

/**
 * Whether a parsed value nests deeper than `max` (iterative: safe on any input). `budget` bounds the nodes
 * visited, for values whose nodes are shared (YAML aliases): past it the answer is false, and the caller's
 * own size limit decides.
 */
export function nestsDeeperThan(value: unknown, max = MAX_JSON_DEPTH, budget = Infinity): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  let visited = 0;
  while (stack.length) {
    if (++visited > budget) return false;
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
  }
  return false;
}
