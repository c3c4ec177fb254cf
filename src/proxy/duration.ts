// Go-style durations ("1h30m", "45s", "250ms") as used in AgentPolicy hold settings.
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(s: string | undefined, fallbackMs: number): number {
  if (!s) return fallbackMs;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gu;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed += m[0].length;
  }
  return consumed === s.length && consumed > 0 ? total : fallbackMs;
}
