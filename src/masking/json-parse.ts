// JSON.parse that never loses precision: integers beyond 2^53 and long decimals stay as raw JSON text
// (JSON.rawJSON), so re-serialising a masked object leaves every number as the API server sent it.
type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

const LONG_NUMBER = /\d{16}/;

function keepRawNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number' && context?.source !== undefined && String(value) !== context.source) {
    return JSON.rawJSON(context.source);
  }
  return value;
}

export function parseJson(text: string): unknown {
  // The reviver path is slower; only take it when the text may hold a number JS cannot represent exactly.
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  return (JSON.parse as (t: string, r: Reviver) => unknown)(text, keepRawNumbers);
}
