// JSON.rawJSON / JSON.isRawJSON (ES2025 "JSON.parse source text access"; V8 ships them in Node 24).
interface JSON {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): boolean;
}
