// Image detectors: registries outside the allow-list, and mutable tags (no digest; `latest` or no tag).
import type { Detector } from './types.js';
import { eachContainer, hit, str } from './util.js';

export interface ImageRef { registry: string; repository: string; tag?: string; digest?: string }

/** Parses an image reference the way container runtimes do (docker.io and library/ defaults). */
export function parseImage(image: string): ImageRef {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry: string;
  let repository: string;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    repository = rest.slice(slash + 1);
  } else {
    registry = 'docker.io';
    repository = slash >= 0 ? rest : `library/${rest}`;
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = 'docker.io';
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Normalises an allowed-registry entry to `registry/path` without a trailing slash. */
export function normaliseRegistryPrefix(entry: string): string {
  const e = entry.trim().replace(/\/+$/, '');
  if (!e.includes('/')) return e.toLowerCase() === 'index.docker.io' ? 'docker.io' : e.toLowerCase();
  const slash = e.indexOf('/');
  const reg = e.slice(0, slash).toLowerCase();
  return `${reg === 'index.docker.io' ? 'docker.io' : reg}${e.slice(slash)}`;
}

export function imageAllowed(image: string, prefixes: readonly string[]): boolean {
  if (prefixes.length === 0) return true;
  const ref = parseImage(image);
  const full = `${ref.registry}/${ref.repository}`;
  return prefixes.some((p) => full === p || full.startsWith(`${p}/`));
}

const images = (fn: (image: string, path: string) => ReturnType<typeof hit> | undefined): Detector => (req) =>
  eachContainer(req, ({ c, path }) => {
    const image = str(c.image);
    if (image === undefined) return undefined;
    return fn(image, `${path}.image`);
  });

export const imageRegistry: Detector = (req, s) =>
  images((image, path) => (imageAllowed(image, s.allowedRegistries) ? undefined
    : hit('imageRegistry', path, `image ${JSON.stringify(image)} is not from an allowed registry (${s.allowedRegistries.join(', ')})`)))(req, s);

export const mutableImageTag: Detector = (req, s) => {
  if (s.allowMutableTags) return [];
  return images((image, path) => {
    const ref = parseImage(image);
    if (ref.digest) return undefined;
    if (ref.tag === undefined || ref.tag === '' || ref.tag === 'latest') {
      return hit('mutableImageTag', path, `image ${JSON.stringify(image)} has ${ref.tag ? 'the mutable tag "latest"' : 'no tag'} and no digest`);
    }
    return undefined;
  })(req, s);
};
