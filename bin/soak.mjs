#!/usr/bin/env node
// npm run soak: the soak (tools/soak/cli.ts), TypeScript through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../tools/soak/cli.ts');
process.exitCode = await main(process.argv.slice(2));
