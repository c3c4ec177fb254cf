// Bounded waits: every agent request has a deadline by class, counted from when it arrived, which bounds
// the calls made upstream for it (probes and the forwarded request). A request past its deadline is
// answered 504 with a Status (or cut, once its answer has started streaming).
import { isLogFollow, type RequestInfo } from './request-info.js';
import { parseDurationMs } from './duration.js';
import { kubeStatus, type KubeStatus } from './status.js';

/** kube-apiserver ends a watch without timeoutSeconds between --min-request-timeout (1800 s) and twice that. */
const WATCH_SERVER_LIMIT_S = 3600;
/** Streams (exec, attach, port-forward, logs -f, proxy) have no end, but their answer must start in this time. */
const STREAM_START_MS = 30_000;
/** Past the request's own timeout, kube-apiserver's answer (its own 504) still gets this long to arrive. */
const GRACE_MS = 500;
/** The longest timeout a client may ask for on a non-watch request. */
const MAX_CLIENT_TIMEOUT_MS = 3_600_000;

export interface Deadline {
  /** When the whole exchange with kube-apiserver must have ended (epoch ms); undefined for streams. */
  endBy?: number;
  /** When kube-apiserver's answer must have started (epoch ms). */
  answerBy: number;
  /** What bounded it, for the 504 message. */
  because: string;
}

/**
 * The deadline of a request: the client's `?timeout=` (or the watch's timeoutSeconds) when it sets one,
 * the proxy's default for other non-watch requests, and only a start-up bound for streams.
 */
export function deadlineFor(info: RequestInfo, arrived: number, defaultMs: number, upgrade: boolean): Deadline {
  const streaming = upgrade || info.subresource === 'proxy' || isLogFollow(info);
  if (streaming) return { answerBy: arrived + STREAM_START_MS, because: `a stream must start within ${STREAM_START_MS / 1000} s` };
  if (info.watch) {
    const asked = Number(info.params.get('timeoutSeconds'));
    const seconds = Number.isFinite(asked) && asked > 0 ? Math.min(asked, WATCH_SERVER_LIMIT_S) : WATCH_SERVER_LIMIT_S;
    return { endBy: arrived + seconds * 1000 + GRACE_MS, answerBy: arrived + Math.min(seconds * 1000 + GRACE_MS, STREAM_START_MS), because: `the watch's timeout of ${seconds} s` };
  }
  const asked = parseDurationMs(info.params.get('timeout') ?? undefined, NaN);
  const ms = Number.isFinite(asked) && asked > 0 ? Math.min(asked, MAX_CLIENT_TIMEOUT_MS) : defaultMs;
  const because = Number.isFinite(asked) && asked > 0 ? `the request's timeout of ${ms / 1000} s` : `the proxy's default timeout of ${ms / 1000} s`;
  return { endBy: arrived + ms + GRACE_MS, answerBy: arrived + ms + GRACE_MS, because };
}

/** The error an upstream call is destroyed with when its deadline passes. */
export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
  readonly code = 'ETIMEDOUT';
}

export function isDeadlineExceeded(err: unknown): err is DeadlineExceeded {
  return err instanceof DeadlineExceeded;
}

export function timeoutStatus(d: Deadline, what: string): KubeStatus {
  return kubeStatus(504, `airlock: kube-apiserver did not answer ${what} in time (${d.because}); ${what === 'the request' ? 'it may or may not have been applied' : 'nothing was forwarded'}`, 'Timeout');
}
