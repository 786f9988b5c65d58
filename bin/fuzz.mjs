#!/usr/bin/env node
// npm run fuzz: the seeded syscall fuzzer (tools/fuzz/cli.ts), TypeScript through tsx. With
// PTLAB_FUZZ_CHILD set it is the child process that runs one machine (tools/fuzz/isolate.ts).
import { register } from 'tsx/esm/api';

register();
if (process.env.PTLAB_FUZZ_CHILD !== undefined) {
  const { childMain } = await import('../tools/fuzz/isolate.ts');
  childMain();
} else {
  const { main } = await import('../tools/fuzz/cli.ts');
  process.exitCode = await main(process.argv.slice(2));
}
