#!/usr/bin/env node
// The ptlab command: TypeScript sources run through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../host/cli.ts');
process.exitCode = await main(process.argv.slice(2));
