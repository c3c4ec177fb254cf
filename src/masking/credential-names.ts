// Which names say "this holds a credential": env var names (and ConfigMap keys, which become env vars
// through envFrom), field names in any object (custom resources, kubeconfigs, docker configs), Table
// column names, keys in key=value text. Names that only refer to a secret (secretName, TOKEN_PATH,
// passwordFile, ...) are not credentials. All checks are literal searches over the name: linear.

// Env names: the historic list (kept, so nothing masked before is left visible now) ...
const ENV_CRED_WORDS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'api_key', 'accesskey', 'access_key', 'privatekey', 'private_key', 'credential', 'auth'];
// ... plus *PASS* (DB_PASS), *PWD (MYSQL_PWD), CREDS.
const ENV_CRED_WORDS_MORE = ['pass', 'pwd', 'creds'];
// Suffixes that only reference a secret. SECRET_ID is not among them (e.g. a Vault AppRole secret_id).
const ENV_REF_SUFFIXES = ['_name', '_ref', '_path', '_file', '_dir', '_url', '_type', '_ttl', '_expiry', '_seconds'];
/** Shell variables that merely contain "PWD" (a directory). */
const ENV_NOT_CRED = new Set(['pwd', 'oldpwd']);

function hasAny(lower: string, words: readonly string[]): boolean {
  for (const w of words) if (lower.includes(w)) return true;
  return false;
}

/** Word "KEY" in an env name (API_KEY, SIGNING_KEY, KEY): *_KEY and *_KEY_* shapes. */
function hasKeyWord(lower: string): boolean {
  for (let i = lower.indexOf('key'); i >= 0; i = lower.indexOf('key', i + 1)) {
    const before = i === 0 ? '_' : lower[i - 1]!;
    const after = i + 3 >= lower.length ? '_' : lower[i + 3]!;
    if ((before === '_' || before === '-' || before === '.') && (after === '_' || after === '-' || after === '.')) return true;
  }
  return false;
}

/** Whether an env var name (or ConfigMap key) names a credential, without user patterns. */
export function envNameIsCredential(name: string): boolean {
  const lower = name.toLowerCase();
  if (ENV_NOT_CRED.has(lower)) return false;
  if (!hasAny(lower, ENV_CRED_WORDS) && !hasAny(lower, ENV_CRED_WORDS_MORE) && !hasKeyWord(lower)) return false;
  if (lower.endsWith('_id')) return lower.endsWith('secret_id');
  for (const s of ENV_REF_SUFFIXES) if (lower.endsWith(s)) return false;
  return true;
}

/** Env var names whose value is masked whole: the policy's envNamePatterns or a credential name. */
export function envNameIsSecret(name: string, patterns: readonly RegExp[]): boolean {
  for (const p of patterns) {
    p.lastIndex = 0;
    if (p.test(name)) return (p.lastIndex = 0), true;
  }
  return envNameIsCredential(name);
}

/** Lower-case words of a name: camelCase, snake_case, kebab-case, dotted (clientKeyData -> client key data). */
export function nameWords(name: string): string[] {
  const words: string[] = [];
  let cur = '';
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    const c = name.charCodeAt(i);
    const upper = c >= 65 && c <= 90;
    const alnum = upper || (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
    if (!alnum) {
      if (cur) words.push(cur);
      cur = '';
      continue;
    }
    // A new word at lower->Upper, and before the last capital of an acronym (APIKey -> API Key).
    const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
    const next = i + 1 < name.length ? name.charCodeAt(i + 1) : 0;
    const prevLower = (prev >= 97 && prev <= 122) || (prev >= 48 && prev <= 57);
    const prevUpper = prev >= 65 && prev <= 90;
    const nextLower = next >= 97 && next <= 122;
    if (cur && upper && (prevLower || (prevUpper && nextLower))) {
      words.push(cur);
      cur = '';
    }
    cur += ch.toLowerCase();
  }
  if (cur) words.push(cur);
  return words;
}

// A word that alone makes a field a credential.
const FIELD_CRED_WORDS = new Set([
  'password', 'passwd', 'passphrase', 'pwd', 'pass', 'passcode', 'secret', 'token', 'credential', 'credentials', 'creds',
  'apikey', 'auth', 'authorization', 'privatekey', 'accesskey', 'secretkey', 'clientsecret', 'bearer', 'cookie',
]);
// Single-word names that hold such a word ("dbpassword", "apitoken").
const FIELD_CRED_SUBSTRINGS = ['password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'credential'];
// "<x> key" is a credential for these x (signingKey, client-key-data, ssh_key); topologyKey is not.
const KEY_QUALIFIERS = new Set([
  'api', 'access', 'private', 'secret', 'signing', 'encryption', 'decryption', 'auth', 'master', 'shared', 'ssh', 'session',
  'hmac', 'client', 'license', 'webhook', 'account', 'service', 'root', 'admin', 'app', 'write', 'read', 'sealing', 'jwt',
  'crypto', 'tls', 'gpg', 'pgp', 'deploy', 'storage', 'subscription', 'primary', 'secondary', 'unseal', 'recovery', 'cipher',
]);
// A last word that makes the field a reference or a setting, not the credential itself.
const FIELD_REF_WORDS = new Set([
  'name', 'names', 'ref', 'refs', 'reference', 'path', 'paths', 'file', 'files', 'dir', 'directory', 'namespace', 'id', 'ids',
  'type', 'types', 'kind', 'count', 'ttl', 'length', 'expiry', 'expiration', 'expires', 'seconds', 'audience', 'audiences',
  'url', 'urls', 'uri', 'endpoint', 'provider', 'policy', 'mode', 'method', 'strategy', 'format', 'version', 'algorithm',
  'header', 'selector', 'issuer', 'source', 'enabled', 'required', 'size', 'timeout', 'period', 'interval', 'duration',
  'template', 'field', 'prefix', 'env', 'var', 'label', 'annotation', 'secrets', 'tokens', 'mount', 'volume', 'location',
]);

/** Whether a field name (any object) names a credential: spec.password, apiToken, clientSecret, client-key-data. */
export function fieldNameIsCredential(name: string): boolean {
  if (name.length === 0 || name.length > 256) return false;
  const words = nameWords(name);
  if (words.length === 0) return false;
  const last = words[words.length - 1]!;
  if (FIELD_REF_WORDS.has(last) && !(last === 'id' && words[words.length - 2] === 'secret')) return false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (FIELD_CRED_WORDS.has(w)) return true;
    if (w === 'key' && i > 0 && KEY_QUALIFIERS.has(words[i - 1]!)) return true;
  }
  return words.length === 1 && FIELD_CRED_SUBSTRINGS.some((s) => last.includes(s));
}

/** Whether a Table column (by its name) shows a credential: Password, Token, Secret, API Key, ... */
export function columnNameIsCredential(name: string): boolean {
  return fieldNameIsCredential(name);
}

// key=value text keys (the historic detector's list: a key containing any of these) ...
const KV_KEY_WORDS = ['password', 'passwd', 'passphrase', 'pwd', 'secret', 'token', 'apikey', 'api_key', 'api-key', 'accesskey', 'access_key', 'access-key', 'privatekey', 'private_key', 'private-key', 'credential', 'authkey', 'auth_key', 'auth-key'];
// ... minus keys that only name or reference a secret (suffix of the whole key, as before).
const KV_REF_SUFFIXES = ['name', 'names', 'ref', 'refs', 'path', 'file', 'dir', 'namespace', 'id', 'ids', 'type', 'kind', 'count', 'ttl', 'length', 'expiry', 'expiration', 'expires', 'seconds', 'audience', 'url', 'provider', 'key_id', 'keyid'];
/** Cheap pre-check for the key=value scanner: some credential word occurs at all. */
export const KV_HINTS = ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'auth', 'creds', 'bearer', 'cookie'];

/** Whether the key of a key=value / key: value pair names a credential (DB_PASS=, db.password:, "apiKey":). */
export function kvKeyIsCredential(key: string, lowerKey: string): boolean {
  if (!hasAny(lowerKey, KV_HINTS)) return false; // every credential key holds one of these
  if (!hasAny(lowerKey, KV_KEY_WORDS) && !fieldNameIsCredential(key)) return false;
  for (const s of KV_REF_SUFFIXES) if (lowerKey.endsWith(s)) return false;
  return true;
}
