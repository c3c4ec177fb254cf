// Multi-needle exact search in time linear in the text (Aho–Corasick). Building costs O(total needle
// length); scanning costs O(text length): every character takes one goto step plus failure steps that are
// paid for by earlier goto steps, and a goto step reads at most WIDE_AT sibling links (wider nodes use a
// hash map). No backtracking, whatever the needles or the text hold.

/** Work counter: tests assert ops <= c * input length instead of timing anything. */
export interface ScanStats {
  ops: number;
}

/** A region of the text to replace: [start, end), and the needle when exactly one needle covers it. */
export interface MatchRegion {
  start: number;
  end: number;
  /**
   * Index of the needle when the region is one needle occurrence or occurrences of needles of one group
   * (see the constructor), else -1 (overlapping occurrences of different groups merged).
   */
  needle: number;
}

const WIDE_AT = 8;

export class NeedleMatcher {
  private readonly code: Uint16Array;
  private readonly firstChild: Int32Array;
  private readonly nextSibling: Int32Array;
  private readonly childCount: Int32Array;
  private readonly fail: Int32Array;
  /** Needle index ending exactly at this node, or -1. */
  private readonly term: Int32Array;
  /** Nearest node on the failure chain that ends a needle (0: none). */
  private readonly outLink: Int32Array;
  private readonly depth: Int32Array;
  private readonly wide = new Map<number, number>();
  private readonly groups: readonly number[] | undefined;
  private nodes = 1;
  readonly needleCount: number;

  /** groups[i]: a group per needle (e.g. the value it spells); overlapping occurrences of one group stay one region. */
  constructor(needles: readonly string[], stats?: ScanStats, groups?: readonly number[]) {
    this.groups = groups;
    let total = 1;
    for (const n of needles) total += n.length;
    this.code = new Uint16Array(total);
    this.firstChild = new Int32Array(total).fill(-1);
    this.nextSibling = new Int32Array(total).fill(-1);
    this.childCount = new Int32Array(total);
    this.fail = new Int32Array(total);
    this.term = new Int32Array(total).fill(-1);
    this.outLink = new Int32Array(total);
    this.depth = new Int32Array(total);
    this.needleCount = needles.length;
    needles.forEach((n, i) => this.insert(n, i, stats));
    this.link(stats);
  }

  private child(node: number, c: number, stats?: ScanStats): number {
    if (this.childCount[node]! >= WIDE_AT) {
      if (stats) stats.ops++;
      return this.wide.get(node * 65536 + c) ?? -1;
    }
    for (let k = this.firstChild[node]!; k >= 0; k = this.nextSibling[k]!) {
      if (stats) stats.ops++;
      if (this.code[k] === c) return k;
    }
    return -1;
  }

  private insert(needle: string, index: number, stats?: ScanStats): void {
    if (needle.length === 0) return;
    let node = 0;
    for (let i = 0; i < needle.length; i++) {
      const c = needle.charCodeAt(i);
      let next = this.child(node, c, stats);
      if (next < 0) {
        next = this.nodes++;
        this.code[next] = c;
        this.depth[next] = this.depth[node]! + 1;
        this.nextSibling[next] = this.firstChild[node]!;
        this.firstChild[node] = next;
        const count = ++this.childCount[node]!;
        if (count === WIDE_AT) for (let k = this.firstChild[node]!; k >= 0; k = this.nextSibling[k]!) this.wide.set(node * 65536 + this.code[k]!, k);
        else if (count > WIDE_AT) this.wide.set(node * 65536 + c, next);
      }
      node = next;
    }
    if (this.term[node]! < 0) this.term[node] = index;
  }

  /** Breadth-first failure links (standard construction; amortised O(total needle length)). */
  private link(stats?: ScanStats): void {
    const queue = new Int32Array(this.nodes);
    let head = 0;
    let tail = 0;
    for (let k = this.firstChild[0]!; k >= 0; k = this.nextSibling[k]!) queue[tail++] = k;
    while (head < tail) {
      const u = queue[head++]!;
      for (let v = this.firstChild[u]!; v >= 0; v = this.nextSibling[v]!) {
        const c = this.code[v]!;
        let f = this.fail[u]!;
        while (f !== 0 && this.child(f, c, stats) < 0) f = this.fail[f]!;
        const g = this.child(f, c, stats);
        const fv = g >= 0 && g !== v ? g : 0;
        this.fail[v] = fv;
        this.outLink[v] = this.term[fv]! >= 0 ? fv : this.outLink[fv]!;
        queue[tail++] = v;
      }
    }
  }

  /**
   * Regions of text[from, to) covered by needle occurrences, in order, overlapping occurrences merged.
   * Only the longest needle ending at each position is considered: shorter ones ending there lie inside it,
   * so the covered union is the same and the work per position stays constant.
   */
  regions(text: string, from = 0, to = text.length, stats?: ScanStats): MatchRegion[] {
    const out: MatchRegion[] = [];
    let state = 0;
    for (let i = from; i < to; i++) {
      state = this.step(state, text.charCodeAt(i), stats);
      const hit = this.term[state]! >= 0 ? state : this.outLink[state]!;
      if (hit === 0) continue;
      const start = i + 1 - this.depth[hit]!;
      let region: MatchRegion = { start, end: i + 1, needle: this.term[hit]! };
      // Merge with earlier regions this occurrence overlaps (each region is merged away at most once).
      while (out.length && out[out.length - 1]!.end > region.start) {
        const prev = out.pop()!;
        const covers = region.start <= prev.start;
        const sameGroup = this.groups !== undefined && prev.needle >= 0 && region.needle >= 0 && this.groups[prev.needle] === this.groups[region.needle];
        region = { start: Math.min(prev.start, region.start), end: region.end, needle: sameGroup ? region.needle : covers ? region.needle : -1 };
      }
      out.push(region);
    }
    return out;
  }

  /** The automaton's next state after reading c (following failure links; amortised constant). */
  private step(state: number, c: number, stats?: ScanStats): number {
    let g = this.child(state, c, stats);
    while (g < 0 && state !== 0) {
      state = this.fail[state]!;
      g = this.child(state, c, stats);
    }
    return g < 0 ? 0 : g;
  }

  /**
   * Length of the longest suffix of text[from, to) that begins some needle (the automaton's depth after
   * reading it): a stream must hold those characters back, the next chunk may complete the needle.
   */
  openPrefixLength(text: string, from = 0, to = text.length, stats?: ScanStats): number {
    let state = 0;
    for (let i = from; i < to; i++) state = this.step(state, text.charCodeAt(i), stats);
    return this.depth[state]!;
  }

  /** Whether any needle occurs in text. */
  test(text: string, stats?: ScanStats): boolean {
    let state = 0;
    for (let i = 0; i < text.length; i++) {
      state = this.step(state, text.charCodeAt(i), stats);
      if (this.term[state]! >= 0 || this.outLink[state]! !== 0) return true;
    }
    return false;
  }
}
