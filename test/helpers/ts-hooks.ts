// Module hooks for child processes that run the TypeScript sources directly (Node's type stripping):
// they map the sources' `./x.js` imports to `./x.ts`. Write the text to hooks.mjs and pass --import.
export const TS_SOURCE_HOOKS = `
import { registerHooks } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
registerHooks({
  resolve(spec, ctx, next) {
    if (/^(\\.{1,2}\\/|file:)/.test(spec) && spec.endsWith('.js') && ctx.parentURL) {
      const u = new URL(spec.replace(/\\.js$/, '.ts'), ctx.parentURL);
      if (existsSync(fileURLToPath(u))) return next(u.href, ctx);
    }
    return next(spec, ctx);
  },
});
`;
