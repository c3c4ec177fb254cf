// The webhook's TLS: a self-signed CA and a serving certificate, built with node:crypto (ECDSA P-256 keys,
// X.509 v3 encoded here in DER since node:crypto can parse but not build certificates), stored in a
// kubernetes.io/tls Secret in the operator namespace and rotated at 2/3 of their lifetime.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from '../k8s/client.js';
import { errorField, silentLogger, type Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';

// ---------- DER encoding (just what X.509 v3 needs) ----------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
const explicit = (n: number, ...c: Buffer[]): Buffer => tlv(0xa0 + n, ...c);
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.from([unused]), b);

function uint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const enc: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) enc.unshift(0x80 | (v & 0x7f));
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? tlv(0x17, Buffer.from(iso.slice(2) + 'Z')) : tlv(0x18, Buffer.from(iso + 'Z'));
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  cn: '2.5.4.3',
  org: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  san: '2.5.29.17',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
};

const name = (cn: string): Buffer => seq(set(seq(oid(OID.org), utf8('airlock'))), set(seq(oid(OID.cn), utf8(cn))));
const ext = (id: string, critical: boolean, value: Buffer): Buffer => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const keyId = (spki: Buffer): Buffer => createHash('sha1').update(spki).digest();

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export interface KeyPair { certPem: string; keyPem: string }

interface IssueOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
  issuer?: { cert: X509Certificate; key: KeyObject };
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand :: and pack 8 groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(groups.map((g) => { const b = Buffer.alloc(2); b.writeUInt16BE(parseInt(g || '0', 16)); return b; }));
}

function issue(o: IssueOptions): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const issuerName = o.issuer ? issuerNameDer(o.issuer.cert) : name(o.commonName);
  const exts: Buffer[] = [ext(OID.ski, false, octets(keyId(spki)))];
  if (o.isCA) {
    exts.push(ext(OID.basicConstraints, true, seq(bool(true))));
    exts.push(ext(OID.keyUsage, true, bits(Buffer.from([0x86]), 1))); // digitalSignature, keyCertSign, cRLSign
  } else {
    exts.push(ext(OID.basicConstraints, true, seq()));
    exts.push(ext(OID.keyUsage, true, bits(Buffer.from([0x80]), 7))); // digitalSignature
    exts.push(ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth))));
    const names = [...(o.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))), ...(o.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip)))];
    if (names.length) exts.push(ext(OID.san, false, seq(...names)));
  }
  if (o.issuer) {
    const issuerSpki = o.issuer.cert.publicKey.export({ type: 'spki', format: 'der' });
    exts.push(ext(OID.aki, false, seq(tlv(0x80, keyId(issuerSpki)))));
  }
  const sigAlg = seq(oid(OID.ecdsaSha256));
  const tbs = seq(explicit(0, uint(Buffer.from([2]))), uint(serial), sigAlg, issuerName, seq(time(o.notBefore), time(o.notAfter)), name(o.commonName), spki, explicit(3, seq(...exts)));
  const signature = sign('sha256', tbs, o.issuer?.key ?? privateKey);
  const der = seq(tbs, sigAlg, bits(signature));
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** The subject Name of a certificate, as DER, read from its TBSCertificate (used as the child's issuer). */
function issuerNameDer(cert: X509Certificate): Buffer {
  const der = cert.raw;
  // Walk: Certificate SEQ -> TBS SEQ -> [0] version, serial, sigAlg, issuer, validity, subject.
  const readTlv = (buf: Buffer, off: number): { start: number; end: number; hdr: number } => {
    let l = buf[off + 1]!;
    let hdr = 2;
    if (l & 0x80) {
      const n = l & 0x7f;
      l = 0;
      for (let i = 0; i < n; i++) l = (l << 8) | buf[off + 2 + i]!;
      hdr += n;
    }
    return { start: off, end: off + hdr + l, hdr };
  };
  const certT = readTlv(der, 0);
  const tbsT = readTlv(der, certT.hdr);
  let off = tbsT.start + tbsT.hdr;
  const fields: { start: number; end: number }[] = [];
  while (off < tbsT.end && fields.length < 6) {
    const t = readTlv(der, off);
    fields.push(t);
    off = t.end;
  }
  const subject = fields[5]!;
  return Buffer.from(der.subarray(subject.start, subject.end));
}

export function createCA(commonName: string, lifetimeMs: number, now = Date.now()): KeyPair {
  return issue({ commonName, isCA: true, notBefore: new Date(now - 5 * 60_000), notAfter: new Date(now + lifetimeMs) });
}

export function createServingCert(ca: KeyPair, opts: { commonName: string; dnsNames: string[]; ipAddresses: string[]; lifetimeMs: number; now?: number }): KeyPair {
  const now = opts.now ?? Date.now();
  return issue({
    commonName: opts.commonName,
    isCA: false,
    dnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + opts.lifetimeMs),
    issuer: { cert: new X509Certificate(ca.certPem), key: createPrivateKey(ca.keyPem) },
  });
}

// ---------- rotation policy ----------

/** Due for rotation once `fraction` (default 2/3) of the validity period has passed, or when unreadable. */
export function needsRotation(certPem: string | undefined, now = Date.now(), fraction = 2 / 3): boolean {
  if (!certPem) return true;
  try {
    const c = new X509Certificate(certPem);
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    return !(now < from + (to - from) * fraction);
  } catch {
    return true;
  }
}

/** Whether the serving cert is signed by the CA, matches its key and covers every wanted name. */
export function servingCertValid(s: { cert: string; key: string; ca: string }, dnsNames: string[], ipAddresses: string[]): boolean {
  try {
    const cert = new X509Certificate(s.cert);
    const ca = new X509Certificate(s.ca);
    if (!cert.verify(ca.publicKey) || !cert.checkIssued(ca)) return false;
    if (!cert.checkPrivateKey(createPrivateKey(s.key))) return false;
    const san = cert.subjectAltName ?? '';
    return dnsNames.every((d) => san.includes(`DNS:${d}`)) && ipAddresses.every((ip) => cert.checkIP(ip) !== undefined);
  } catch {
    return false;
  }
}

// ---------- Secret storage ----------

export interface WebhookCertOptions {
  namespace: string;
  secretName?: string;
  /** Service name for in-cluster use: names <svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local. */
  serviceName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  caLifetimeMs?: number;
  certLifetimeMs?: number;
  /** Fraction of the lifetime after which a certificate is renewed (default 2/3). */
  rotateFraction?: number;
  now?: () => number;
  /** Where the serving certificate's expiry is published (none without it). */
  metrics?: Pick<Metrics, 'certificateExpiry'>;
}

export interface WebhookCerts {
  /** PEM bundle for clientConfig.caBundle: the current CA, plus the previous one while it is still valid. */
  caBundle: string;
  cert: string;
  key: string;
  notAfter: Date;
  rotated: boolean;
}

interface SecretObj { metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown }; type?: string; data?: Record<string, string>; [k: string]: unknown }

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

function names(opts: WebhookCertOptions): { dns: string[]; ips: string[] } {
  const dns = [...(opts.dnsNames ?? [])];
  if (opts.serviceName) {
    const s = opts.serviceName;
    dns.push(s, `${s}.${opts.namespace}`, `${s}.${opts.namespace}.svc`, `${s}.${opts.namespace}.svc.cluster.local`);
  }
  return { dns: [...new Set(dns)], ips: [...new Set(opts.ipAddresses ?? [])] };
}

/**
 * Reads the webhook TLS Secret, creating or renewing its CA and serving certificate when missing, invalid,
 * or past the rotation point. Concurrent replicas are serialised by the Secret's resourceVersion: the loser
 * of a race re-reads and uses the winner's certificates.
 */
export async function ensureWebhookCerts(client: KubeClient, opts: WebhookCertOptions): Promise<WebhookCerts> {
  const secretName = opts.secretName ?? 'airlock-webhook-tls';
  const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/secrets`;
  const now = (opts.now ?? Date.now)();
  const fraction = opts.rotateFraction ?? 2 / 3;
  const { dns, ips } = names(opts);
  for (let attempt = 0; attempt < 5; attempt++) {
    let secret: SecretObj | undefined;
    try {
      secret = await client.get<SecretObj>(`${path}/${secretName}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const d = secret?.data ?? {};
    let caCert = unb64(d['ca.crt'] ? d['ca.crt'] : undefined);
    let caKey = unb64(d['ca.key']);
    let cert = unb64(d['tls.crt']);
    let key = unb64(d['tls.key']);
    const currentCa = caCert ? splitPem(caCert)[0] : undefined;
    let bundle = caCert ?? '';
    let changed = false;
    if (!currentCa || !caKey || needsRotation(currentCa, now, fraction)) {
      const ca = createCA('airlock-webhook-ca', opts.caLifetimeMs ?? 5 * 365 * 86400e3, now);
      // Keep trusting the old CA while its certificates may still be served elsewhere.
      const keepOld = currentCa && !needsRotation(currentCa, now, 1) ? currentCa : '';
      bundle = ca.certPem + keepOld;
      caCert = bundle;
      caKey = ca.keyPem;
      cert = undefined;
      changed = true;
    }
    const ca0 = splitPem(caCert!)[0]!;
    if (!cert || !key || needsRotation(cert, now, fraction) || !servingCertValid({ cert, key, ca: ca0 }, dns, ips)) {
      const lifetime = Math.min(opts.certLifetimeMs ?? 365 * 86400e3, Date.parse(new X509Certificate(ca0).validTo) - now);
      const leaf = createServingCert({ certPem: ca0, keyPem: caKey! }, { commonName: dns[0] ?? ips[0] ?? 'airlock-webhook', dnsNames: dns, ipAddresses: ips, lifetimeMs: lifetime, now });
      cert = leaf.certPem;
      key = leaf.keyPem;
      changed = true;
    }
    const notAfter = new Date(new X509Certificate(cert).validTo);
    const result: WebhookCerts = { caBundle: bundle, cert: cert!, key: key!, notAfter, rotated: changed };
    if (!changed) {
      opts.metrics?.certificateExpiry.set({ use: 'webhook' }, notAfter.getTime() / 1000);
      return result;
    }
    const data = { 'ca.crt': b64(caCert!), 'ca.key': b64(caKey!), 'tls.crt': b64(cert!), 'tls.key': b64(key!) };
    try {
      if (secret) await client.replace(`${path}/${secretName}`, { ...secret, data });
      else {
        await client.create(path, {
          apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
          metadata: { name: secretName, namespace: opts.namespace, labels: { 'app.kubernetes.io/managed-by': 'airlock', 'app.kubernetes.io/component': 'webhook' } },
          data,
        });
      }
      opts.metrics?.certificateExpiry.set({ use: 'webhook' }, notAfter.getTime() / 1000);
      return result;
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) throw err; // another replica wrote first: use its certificates
    }
  }
  throw new Error(`could not settle the webhook certificate Secret ${opts.namespace}/${secretName}`);
}

export interface CertRotator { stop(): void; current(): WebhookCerts | undefined }

/** Checks the Secret periodically (default hourly) and calls onChange with new certificates after a rotation. */
export function startCertRotation(client: KubeClient, opts: WebhookCertOptions & { intervalMs?: number; onChange: (c: WebhookCerts) => void | Promise<void>; log?: Logger }, initial?: WebhookCerts): CertRotator {
  const log = opts.log ?? silentLogger;
  let last = initial;
  let stopped = false;
  const tick = async (): Promise<void> => {
    try {
      const c = await ensureWebhookCerts(client, opts);
      if (!last || c.cert !== last.cert || c.caBundle !== last.caBundle) {
        last = c;
        await opts.onChange(c);
      }
    } catch (err) {
      log.warn('certificate rotation failed; retrying at the next check', { error: errorField(err) });
    }
  };
  const timer = setInterval(() => { if (!stopped) void tick(); }, opts.intervalMs ?? 3600_000);
  timer.unref();
  if (!initial) void tick();
  return { stop: () => { stopped = true; clearInterval(timer); }, current: () => last };
}

