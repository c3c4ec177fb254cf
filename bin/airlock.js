#!/usr/bin/env node
import { main } from '../dist/src/cli/airlock.js';
main(process.argv.slice(2)).then((code) => process.exit(code), (err) => { console.error(`error: ${err?.message ?? err}`); process.exit(1); });
