// Which recorder owns a session, so that recovery never appends to a session another live replica is
// still writing (replicas may share one volume). Each recorder keeps a heartbeat file under .owners/;
// sessions name their owner in their session-start record. A session may be recovered by its own owner
// (restarted under the same identity) or, once the owner's heartbeat is stale, by whichever replica
// first claims that owner (an exclusive create, so two replicas never recover the same sessions).
import { closeSync, mkdirSync, openSync, readSync, rmdirSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeId, type SessionFiles } from './paths.js';
import type { RequestRecord } from './types.js';

export const OWNERS_DIR = '.owners';

export class SessionOwnership {
  readonly owner: string;
  private readonly dir: string;
  private readonly staleMs: number;
  private readonly now: () => number;
  private readonly decided = new Map<string, boolean>();
  private timer?: NodeJS.Timeout;

  constructor(recordingDir: string, owner: string, staleMs: number, now: () => number) {
    this.dir = join(recordingDir, OWNERS_DIR);
    this.owner = owner;
    this.staleMs = staleMs;
    this.now = now;
  }

  /** Starts the heartbeat (and drops a claim others made on this identity while it was away). */
  start(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.beat();
    try {
      unlinkSync(this.claimFile(this.owner));
    } catch { /* none */ }
    this.timer = setInterval(() => this.beat(), Math.max(1000, Math.floor(this.staleMs / 4)));
    this.timer.unref();
  }

  /** Stops the heartbeat; after a graceful close nothing of this owner is left to recover, so it is removed. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    try {
      unlinkSync(join(this.dir, safeId(this.owner)));
      rmdirSync(this.dir); // fails while other owners' files are there
    } catch { /* gone, or not empty */ }
  }

  /** Starts a recovery pass: claims are made anew (a claim file persists, so each dead owner is recovered once). */
  beginPass(): void {
    this.decided.clear();
  }

  /** Whether this recorder may recover the session (its own, or a dead owner's that it claimed). */
  mayRecover(files: SessionFiles): boolean {
    const owner = ownerOf(files);
    if (owner === this.owner) return true;
    const key = owner ?? '';
    let ok = this.decided.get(key);
    if (ok === undefined) {
      ok = owner === undefined ? this.quiet(files) : !this.alive(owner) && this.claim(owner);
      this.decided.set(key, ok);
    }
    return ok;
  }

  private beat(): void {
    const f = join(this.dir, safeId(this.owner));
    try {
      const t = new Date(this.now());
      utimesSync(f, t, t);
    } catch {
      try {
        writeFileSync(f, '', { mode: 0o600 });
      } catch { /* the volume refuses writes: the recorder's probe reports it */ }
    }
  }

  private alive(owner: string): boolean {
    try {
      return this.now() - statSync(join(this.dir, safeId(owner))).mtimeMs < this.staleMs;
    } catch {
      return false;
    }
  }

  private claim(owner: string): boolean {
    try {
      closeSync(openSync(this.claimFile(owner), 'wx', 0o600));
      return true;
    } catch {
      return false; // another replica claimed it first
    }
  }

  private claimFile(owner: string): string {
    return join(this.dir, `${safeId(owner)}.claimed`);
  }

  /** A session naming no owner (written before owners were recorded) is recovered once it is quiet. */
  private quiet(files: SessionFiles): boolean {
    const last = files.segments.at(-1);
    try {
      return !last || this.now() - statSync(last.path).mtimeMs >= this.staleMs;
    } catch {
      return false;
    }
  }
}

/** The owner named by a session's session-start record (its first line). */
function ownerOf(files: SessionFiles): string | undefined {
  const first = files.segments[0];
  if (!first) return undefined;
  const buf = Buffer.alloc(16 * 1024);
  let n: number;
  const fd = openSync(first.path, 'r');
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const line = buf.subarray(0, n).toString('utf8').split('\n')[0];
  try {
    const rec = JSON.parse(line ?? '') as RequestRecord;
    return rec.type === 'session-start' ? rec.owner : undefined;
  } catch {
    return undefined;
  }
}
