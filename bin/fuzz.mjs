#!/usr/bin/env node
// npm run fuzz: the seeded syscall fuzzer (tools/fuzz/cli.ts), TypeScript through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../tools/fuzz/cli.ts');
process.exitCode = await main(process.argv.slice(2));
