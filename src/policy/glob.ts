// Glob matching for policy fields. The only wildcard is `*`. Patterns are compiled once (at upsert) into a
// matcher; exact names go into a Set so the common case costs one hash lookup.

export type Matcher = (s: string) => boolean;

const UNSUPPORTED = /[?[\]{}\\]/;
/** Bounds backtracking when untrusted names are matched against a glob. */
const MAX_STARS = 8;

/** Returns why a glob is invalid, or undefined when it is fine. */
export function globError(p: unknown): string | undefined {
  if (typeof p !== 'string') return 'must be a string';
  if (p.length === 0) return 'empty pattern';
  if (p.includes('**')) return `unsupported glob "${p}": use a single "*"`;
  if (UNSUPPORTED.test(p)) return `unsupported glob syntax in "${p}": only "*" is a wildcard`;
  if (p.split('*').length - 1 > MAX_STARS) return `too many wildcards in "${p}" (at most ${MAX_STARS})`;
  return undefined;
}

const escape = (s: string): string => s.replace(/[.+^${}()|[\]\\?]/g, '\\$&');

/**
 * Compiles a list of globs into one matcher. `star` is what `*` stands for: any characters (`.*`), or any
 * characters but `/` (`[^/]*`, used for resource/subresource patterns). A lone `*` always matches.
 * Undefined or empty list: undefined (no restriction).
 */
export function compileGlobs(patterns: readonly string[] | undefined, star: '.*' | '[^/]*' = '.*'): Matcher | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  if (patterns.includes('*')) return () => true;
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const p of patterns) {
    if (p.includes('*')) wild.push(p.split('*').map(escape).join(star));
    else exact.add(p);
  }
  if (wild.length === 0) return (s) => exact.has(s);
  const re = new RegExp(`^(?:${wild.join('|')})$`, 's');
  return (s) => exact.has(s) || re.test(s);
}

/** Like compileGlobs but a missing list matches nothing. */
export function compileGlobsOrNone(patterns: readonly string[] | undefined, star: '.*' | '[^/]*' = '.*'): Matcher {
  return compileGlobs(patterns, star) ?? (() => false);
}
