#!/usr/bin/env node
// npm run report: the seed experiments (experiments/*.json) and their report (host/experiments.ts).
import { register } from 'tsx/esm/api';

register();
const { experimentsMain } = await import('../host/experiments.ts');
process.exitCode = await experimentsMain(process.argv.slice(2));
