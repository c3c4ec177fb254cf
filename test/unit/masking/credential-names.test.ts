import { describe, expect, it } from '@jest/globals';
import { columnNameIsCredential, envNameIsCredential, envNameIsSecret, fieldNameIsCredential } from '../../../src/masking/index.js';

describe('credential names', () => {
  it('env names: credential-ish names are secret, references are not', () => {
    for (const n of ['DB_PASSWORD', 'DB_PASS', 'MYSQL_PWD', 'PGPASSWORD', 'API_KEY', 'SIGNING_KEY', 'GITHUB_TOKEN', 'MY_AUTH', 'BASIC_AUTH_USER', 'AWS_SECRET_ACCESS_KEY', 'VAULT_SECRET_ID', 'CREDS', 'KEY', 'client_secret']) {
      expect([n, envNameIsCredential(n)]).toEqual([n, true]);
    }
    for (const n of ['SECRET_NAME', 'TOKEN_PATH', 'PASSWORD_FILE', 'SECRET_REF', 'AUTH_URL', 'AWS_ACCESS_KEY_ID', 'KEY_ID', 'TOKEN_TTL', 'LOG_LEVEL', 'PWD', 'OLDPWD', 'HOME', 'KEYCLOAK_HOST']) {
      expect([n, envNameIsCredential(n)]).toEqual([n, false]);
    }
    expect(envNameIsSecret('MY_CUSTOM', [/^MY_/])).toBe(true);
  });

  it('field names in any object, camelCase, kebab and snake', () => {
    for (const n of ['password', 'apiToken', 'clientSecret', 'client-key-data', 'token', 'id-token', 'refresh-token', 'auth', 'secretKey', 'signingKey', 'private_key', 'dbPassword', 'accessKey', 'secret_id', 'sshKey', 'bearerToken']) {
      expect([n, fieldNameIsCredential(n)]).toEqual([n, true]);
    }
    for (const n of ['secretName', 'passwordSecretRef', 'tokenPath', 'topologyKey', 'key', 'serviceAccountName', 'secrets', 'caBundle', 'client-certificate-data', 'username', 'authMethod', 'tokenTTL', 'author', 'passthrough', 'name']) {
      expect([n, fieldNameIsCredential(n)]).toEqual([n, false]);
    }
  });

  it('Table column names', () => {
    expect(['Password', 'Token', 'Secret', 'API Key', 'Client Secret'].map(columnNameIsCredential)).toEqual([true, true, true, true, true]);
    expect(['Name', 'Type', 'Data', 'Age', 'Secret Name'].map(columnNameIsCredential)).toEqual([false, false, false, false, false]);
  });
});
