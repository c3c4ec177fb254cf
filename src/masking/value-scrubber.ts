// Scrubs known secret values (every spelling from value-forms.ts) out of any string in one linear pass.
import { NeedleMatcher, type ScanStats } from './aho-corasick.js';
import { isMarker, mapOutsideMarkers } from './marker.js';
import { MIN_KNOWN_VALUE_LENGTH, valueForms } from './value-forms.js';

export class ValueScrubber {
  /** The values searched for (each at least MIN_KNOWN_VALUE_LENGTH long). */
  readonly values: readonly string[];
  /** Shortest value: every spelling is at least this long (escapes and base64 only lengthen), so shorter text cannot hold one. */
  readonly minLength: number;
  // Built on first use: most units' strings (names, timestamps, short labels) are shorter than any value,
  // and building costs about as much as scanning the values' total length.
  private built: { matcher: NeedleMatcher; owner: number[] } | undefined;
  private readonly buildStats: ScanStats | undefined;

  private constructor(values: string[], stats?: ScanStats) {
    this.values = values;
    this.minLength = Math.min(...values.map((v) => v.length));
    this.buildStats = stats;
  }

  private matcher(): { matcher: NeedleMatcher; owner: number[] } {
    if (this.built) return this.built;
    const needles: string[] = [];
    const owner: number[] = [];
    this.values.forEach((v, i) => {
      for (const f of valueForms(v)) {
        needles.push(f);
        owner.push(i);
      }
    });
    this.built = { matcher: new NeedleMatcher(needles, this.buildStats, owner), owner };
    return this.built;
  }

  /** A scrubber for the values long enough to search for, or undefined when there are none. */
  static of(values: Iterable<string>, stats?: ScanStats): ValueScrubber | undefined {
    const keep = new Set<string>();
    for (const v of values) if (v.length >= MIN_KNOWN_VALUE_LENGTH && !isMarker(v)) keep.add(v);
    return keep.size ? new ValueScrubber([...keep], stats) : undefined;
  }

  /**
   * Replaces every occurrence with mark(value) (a region where occurrences overlap: mark(region)).
   * Marker text is left alone. onHit is called once per replacement.
   */
  replace(text: string, mark: (value: string) => string, onHit?: () => void, stats?: ScanStats): string {
    if (text.length < this.minLength) return text;
    return mapOutsideMarkers(text, (seg) => {
      if (seg.length < this.minLength) return seg;
      const { matcher, owner } = this.matcher();
      const regions = matcher.regions(seg, 0, seg.length, stats);
      if (regions.length === 0) return seg;
      let out = '';
      let at = 0;
      for (const r of regions) {
        const value = r.needle >= 0 ? this.values[owner[r.needle]!]! : seg.slice(r.start, r.end);
        out += seg.slice(at, r.start) + mark(value);
        at = r.end;
        onHit?.();
      }
      return out + seg.slice(at);
    });
  }

  /** Whether text holds any spelling of a known value (outside markers). */
  contains(text: string, stats?: ScanStats): boolean {
    if (text.length < this.minLength) return false;
    let hit = false;
    mapOutsideMarkers(text, (seg) => {
      if (!hit && seg.length >= this.minLength && this.matcher().matcher.test(seg, stats)) hit = true;
      return seg;
    });
    return hit;
  }
}
