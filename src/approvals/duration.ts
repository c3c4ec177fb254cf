// Go-style durations as used in AgentPolicy (30m, 1h, 1h30m, 90s, 500ms).
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration into milliseconds; throws on malformed input. */
export function parseDuration(s: string): number {
  const text = s.trim();
  if (!text) throw new Error('empty duration');
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== text.length) throw new Error(`invalid duration "${s}" (use Go syntax such as 30m, 1h, 1h30m)`);
  return total;
}

/** Short human form: 45s, 12m, 3h, 2d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}
