// The per-request token that tells Airlock's webhook "the proxy already judged exactly this request".
//
// The proxy forwards as the agent (Impersonate-*) and adds the user extra airlock.dev/proxied. That
// extra is visible to anyone who can see the agent's identity (kubectl auth whoami, recordings, the
// kube audit log), and kube-apiserver does not tell a webhook who impersonated
// (kubernetes/kubernetes#133825), so a static value would exempt anyone able to impersonate the agent.
// Instead the value is an HMAC-SHA256, under the installation key, over the identity and the request
// attributes that the webhook can see again in the AdmissionRequest, plus an issue time: a value seen
// once exempts nothing but that one request, for at most VALIDITY_SECONDS.
//
// What it cannot bind: the body. Admission sees the object after defaulting and mutating webhooks, so
// no digest the proxy computes can be recomputed by the webhook. A leaked value therefore lets its
// holder send *a different body* to the same target (same identity, verb class, resource, namespace,
// name, dry-run flag) within its validity.
//
// Format (versioned): v1.<issuedAtUnixSeconds>.<nonce>.<verb>.<signedName-b64url>.<mac-b64url>
// The verb and the signed name travel in clear because the webhook cannot derive them exactly
// (admission only knows the operation; for generateName creates it sees the generated name).
import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { ResourceCoordinates, UserInfo } from '../policy/types.js';

export const PROXIED_EXTRA_KEY = 'airlock.dev/proxied';
export const VALIDITY_SECONDS = 30;
/** Tolerated clock difference between the replica that signs (proxy) and the one that verifies (webhook). */
export const CLOCK_SKEW_SECONDS = 5;
export const MIN_KEY_BYTES = 32;

const VERSION = 'v1';
const MAX_TOKEN_LENGTH = 1024;
/** kube-apiserver's name generator truncates generateName to 63 - 5 characters before appending 5 random ones. */
const MAX_GENERATE_NAME_PREFIX = 58;

/**
 * What the proxy forwards: the agent's identity and the request's coordinates (as RequestInfo gives them).
 * name: from the URL, or for a create from the body's metadata.name; empty for a create that uses
 * metadata.generateName (the proxy cannot know the name the API server generates).
 */
export interface ProxiedRequest extends ResourceCoordinates {
  user: UserInfo;
  /** ?dryRun=All on the forwarded request (bound, so a token seen on a dry run cannot admit a real write). */
  dryRun?: boolean;
}

/**
 * What the webhook sees of a request (the AdmissionRequest, adapted in src/webhook/proxied.ts): the
 * operation instead of the verb; name is AdmissionRequest.name (for generateName creates, the generated name).
 */
export interface AdmittedRequest extends Omit<ResourceCoordinates, 'verb'> {
  user: { username: string; uid?: string; groups: string[] };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  /** object.metadata.generateName of a CREATE, if any. */
  generateName?: string;
  dryRun: boolean;
}

/**
 * collection: the token is the proxy's, for the deletecollection this DELETE is one object of. It does not
 * exempt the object (it does not bind the selector), but the proxy already counted it against budgets.
 */
export type ProxiedVerdict = { ok: true } | { ok: false; reason: string; collection?: true };

const CONNECT_VERBS = new Set(['get', 'create', 'update', 'patch', 'delete', 'proxy']);
/** Which forwarded verbs can reach admission as which operation. */
function verbCanProduce(verb: string, op: AdmittedRequest['operation']): boolean {
  switch (op) {
    case 'CREATE':
      return verb === 'create' || verb === 'update' || verb === 'patch'; // PUT/apply may create
    case 'UPDATE':
      return verb === 'update' || verb === 'patch';
    case 'DELETE':
      // Not deletecollection: the token does not bind its selector, so it would exempt a delete of any
      // object of that resource; the webhook judges each item instead.
      return verb === 'delete';
    case 'CONNECT':
      return CONNECT_VERBS.has(verb);
  }
}

/** Groups the API server derives from the username itself (added on impersonation); they carry nothing more. */
function boundGroups(username: string, groups: readonly string[]): string[] {
  const sa = /^system:serviceaccount:([^:]+):[^:]+$/u.exec(username);
  const derived = new Set(['system:authenticated', ...(sa ? ['system:serviceaccounts', `system:serviceaccounts:${sa[1]}`] : [])]);
  return [...new Set(groups.filter((g) => !derived.has(g)))].sort();
}

interface Bound {
  username: string;
  uid: string;
  groups: string[];
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  dryRun: boolean;
}

/** Unambiguous encoding (a JSON array of strings): no field can bleed into the next. */
function canonical(issuedAt: number, nonce: string, b: Bound): string {
  // A Namespace's admission namespace is its own name (or empty for generateName): name alone binds it.
  const namespace = b.apiGroup === '' && b.resource === 'namespaces' ? '' : b.namespace;
  return JSON.stringify([
    `airlock.dev/proxied/${VERSION}`, String(issuedAt), nonce,
    b.username, b.uid, b.groups,
    b.verb, b.apiGroup, b.apiVersion, b.resource, b.subresource, namespace, b.name, b.dryRun ? 'dry-run' : 'write',
  ]);
}

function mac(key: KeyObject, issuedAt: number, nonce: string, b: Bound): Buffer {
  return createHmac('sha256', key).update(canonical(issuedAt, nonce, b)).digest();
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) throw new Error(`the proxied-request key must be at least ${MIN_KEY_BYTES} bytes`);
}

/** A signer for the proxy: call it once per forwarded request; send the value as Impersonate-Extra-airlock.dev%2fproxied. */
export function proxiedSigner(secret: Buffer, now: () => number = Date.now): (req: ProxiedRequest) => string {
  checkKey(secret);
  const key = createSecretKey(secret); // made once: preparing a raw key per HMAC is most of its cost
  return (req) => {
    const issuedAt = Math.floor(now() / 1000);
    const nonce = randomBytes(16).toString('base64url');
    const b: Bound = {
      username: req.user.username, uid: req.user.uid ?? '', groups: boundGroups(req.user.username, req.user.groups),
      verb: req.verb, apiGroup: req.apiGroup, apiVersion: req.apiVersion, resource: req.resource,
      subresource: req.subresource ?? '', namespace: req.namespace ?? '', name: req.name ?? '', dryRun: req.dryRun === true,
    };
    if (!/^[a-z]{1,32}$/u.test(b.verb)) throw new Error(`cannot sign verb ${JSON.stringify(b.verb)}`);
    return [VERSION, String(issuedAt), nonce, b.verb, Buffer.from(b.name).toString('base64url'), mac(key, issuedAt, nonce, b).toString('base64url')].join('.');
  };
}

const TOKEN = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([a-z]{1,32})\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{43})$/u;

/** Whether the signed name fits the admitted one: equal, or an empty name signed for a generateName create. */
function nameFits(signed: string, r: AdmittedRequest): boolean {
  const name = r.name ?? '';
  if (signed === name) return true;
  if (signed !== '' || r.operation !== 'CREATE' || !r.generateName) return false;
  // kube-apiserver fills AdmissionRequest.name with the generated name (prefix + 5 random characters).
  const prefix = r.generateName.slice(0, MAX_GENERATE_NAME_PREFIX);
  return name.length === prefix.length + 5 && name.startsWith(prefix);
}

/**
 * A verifier for the webhook: accepts only one value, well formed, signed with `key` for exactly this
 * identity and these attributes, issued at most VALIDITY_SECONDS ago (and not beyond CLOCK_SKEW_SECONDS
 * in the future). Anything else is refused with a reason (the request is then judged).
 */
export function proxiedVerifier(secret: Buffer, now: () => number = Date.now): (values: readonly unknown[] | undefined, r: AdmittedRequest) => ProxiedVerdict {
  checkKey(secret);
  const key = createSecretKey(secret);
  return (values, r) => {
    if (!values || values.length === 0) return { ok: false, reason: 'no token' };
    if (values.length !== 1) return { ok: false, reason: `${values.length} values (exactly one is accepted)` };
    const value = values[0];
    if (typeof value !== 'string' || value.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed token' };
    const m = TOKEN.exec(value);
    if (!m) return { ok: false, reason: 'malformed token' };
    const [, iat, nonce, verb, nameB64, macB64] = m as unknown as [string, string, string, string, string, string];
    const signedName = Buffer.from(nameB64, 'base64url').toString('utf8');
    if (Buffer.from(signedName).toString('base64url') !== nameB64) return { ok: false, reason: 'malformed token (name)' };
    const issuedAt = Number(iat);
    const nowS = now() / 1000;
    if (nowS - issuedAt > VALIDITY_SECONDS) return { ok: false, reason: 'expired token' };
    if (issuedAt - nowS > CLOCK_SKEW_SECONDS) return { ok: false, reason: 'token issued in the future' };
    const collectionItem = verb === 'deletecollection' && r.operation === 'DELETE' && signedName === '';
    if (!collectionItem && !verbCanProduce(verb, r.operation)) return { ok: false, reason: `token for verb ${verb} does not cover ${r.operation}` };
    if (!collectionItem && !nameFits(signedName, r)) return { ok: false, reason: 'token for another name' };
    const expected = mac(key, issuedAt, nonce, {
      username: r.user.username, uid: r.user.uid ?? '', groups: boundGroups(r.user.username, r.user.groups),
      verb, apiGroup: r.apiGroup, apiVersion: r.apiVersion, resource: r.resource,
      subresource: r.subresource ?? '', namespace: r.namespace ?? '', name: signedName, dryRun: r.dryRun,
    });
    const given = Buffer.from(macB64, 'base64url');
    if (given.toString('base64url') !== macB64) return { ok: false, reason: 'malformed token (signature)' };
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match this request' };
    if (collectionItem) return { ok: false, reason: 'an object of a deletecollection the proxy judged: judged again', collection: true };
    return { ok: true };
  };
}
