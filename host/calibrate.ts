// ptlab calibrate: measure on the host Linux what modeled time's kernel cost table needs
// (host/calibrate.c, compiled with the host's cc) and write the table for --costs.
//
// Every measure is the median of single operations timed on their own (calibrate.c says
// why); derived entries subtract the parts the model charges separately (a first-touch
// fault is charged faultAnon + pageZero, so faultAnon is the measured fault minus the
// zeroing). README.md, "Modeled time", lists them with their derivations.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COST_NAMES, DEFAULT_COSTS, type KernelCosts, parseCosts } from '../kernel/mm/costs.ts';
import { rootPath } from './bundle.ts';
import { Progress } from './progress.ts';

/** One INVLPG, "about 100 ns" (Linux arch/x86/mm/tlb.c, above tlb_single_page_flush_ceiling). */
const INVLPG_NS = 100;
/** Linux's tlb_single_page_flush_ceiling: a full flush costs about as much as this many INVLPGs. */
const FLUSH_CEILING = 33;

/** The probe's measures (ns of one operation each), by name. */
export type Probe = Record<string, number>;

/**
 * Compile and run the probe: `scale` multiplies its iteration counts, `rounds` repeats each.
 * Its progress (a measure a line, as each ends) goes to stderr.
 */
export async function runProbe(scale: number, rounds: number): Promise<Probe> {
  const dir = mkdtempSync(join(tmpdir(), 'ptlab-calibrate-'));
  const source = rootPath('host', 'calibrate.c');
  const measures = [...readFileSync(source, 'utf8').matchAll(/^\s*run\("/gm)].length;
  const progress = new Progress({ label: 'ptlab calibrate', total: measures, out: process.stderr });
  const timer = setInterval(() => progress.tick(), 1000);
  try {
    const exe = join(dir, 'probe');
    execFileSync('cc', ['-O2', '-pthread', '-o', exe, source], { stdio: ['ignore', 'ignore', 'inherit'] });
    const probe: Probe = {};
    const child = spawn(exe, [String(scale), String(rounds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const [name, ns] = line.split(' ');
        probe[name] = Number(ns);
        progress.advance(name);
      }
    });
    const status = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('close', resolve));
    if (status !== 0) throw new Error(`the probe exited with status ${status}`);
    progress.finish();
    return probe;
  } finally {
    clearInterval(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A shootdown to one CPU, send to acknowledgement, when the host cannot show one: an x86
 * IPI round trip is 1 to 3 us (../shared/reference/tlb.md, section 4).
 */
const SHOOTDOWN_FALLBACK_NS = 2000;

/**
 * The cost table from a probe's measures (whole ns, none below 0). A fault's cost by kind
 * includes its PTE write (the model charges pteWrite for a syscall's entries only).
 */
export function costsFrom(p: Probe, host: string, date: string, note: string): KernelCosts {
  const ns = (v: number) => Math.max(0, Math.round(v));
  const measured = p.munmap_remote - p.munmap_local;
  // A remote CPU that does not run the mm when munmap comes (descheduled on a loaded host)
  // gets no IPI: then the difference shows nothing.
  const shootdown = measured > 0 ? measured : SHOOTDOWN_FALLBACK_NS;
  const faultAnon = p.touch_write - p.zero;
  const table = {
    host, date, note: `${note}${measured > 0 ? '' : `; no shootdown measured (remote minus local munmap ${Math.round(measured)} ns): ${SHOOTDOWN_FALLBACK_NS} ns assumed`}`,
    syscall: ns(p.getpid),
    faultMinor: ns(p.touch_read),
    faultAnon: ns(faultAnon),
    faultCow: ns(p.cow - p.copy),
    // Swap lives in host memory: a swap-in is a fault that copies a page in.
    faultMajor: ns(faultAnon + p.copy),
    pageZero: ns(p.zero),
    pageCopy: ns(p.copy),
    pteWrite: ns(p.munmap_touched - p.munmap_empty),
    forkPte: ns((p.fork_touched - p.fork) / p.fork_pages),
    vma: ns((p.mmap_munmap - 2 * p.getpid) / 2),
    uaccessByte: Math.max(0, p.copy / 4096),
    // The round trip split evenly between the sender and the receiver (an assumption).
    ipiSend: ns(shootdown / 2),
    ipiReceive: ns(shootdown / 2),
    flushPage: INVLPG_NS,
    flushFull: INVLPG_NS * FLUSH_CEILING,
    processStart: ns(p.fork - p.getpid),
    threadStart: ns(p.thread - p.getpid),
    // Nothing on a host times one step of a reverse-map walk: the shipped table's
    // assumptions (README.md), named in the note.
    rmapVma: DEFAULT_COSTS.rmapVma,
    rmapPte: DEFAULT_COSTS.rmapPte,
  };
  return parseCosts(table);
}

/** `ptlab calibrate [--rounds N] [--scale X] [-o FILE]`. */
export async function calibrateMain(args: string[], usage: string): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, strict: true, options: { rounds: { type: 'string' }, scale: { type: 'string' }, output: { type: 'string', short: 'o' } } }));
  } catch (e) {
    process.stderr.write(`ptlab: ${e instanceof Error ? e.message : String(e)}\n${usage}`);
    return 2;
  }
  const rounds = Number(values.rounds ?? 5);
  const scale = Number(values.scale ?? 0.25);
  if (!(Number.isInteger(rounds) && rounds >= 1) || !(scale > 0)) {
    process.stderr.write('ptlab calibrate: --rounds is a whole number >= 1, --scale a number > 0\n');
    return 2;
  }
  const probe = await runProbe(scale, rounds);
  const date = new Date().toISOString().slice(0, 10);
  const note = `ptlab calibrate --rounds ${rounds} --scale ${scale} (medians of single operations); flushPage and flushFull from the INVLPG estimate in Linux, rmapVma and rmapPte the shipped table's assumptions (README.md)`;
  const costs = costsFrom(probe, `${hostname()}: ${probeHost()}`, date, note);
  const json = `${JSON.stringify(costs, null, 2)}\n`;
  if (values.output === undefined) {
    process.stdout.write(json);
    return 0;
  }
  writeFileSync(values.output, json);
  const lines = Object.entries(probe).map(([k, v]) => `  ${k.padEnd(16)} ${k === 'fork_pages' ? `${v.toFixed(0).padStart(10)}   pages` : `${v.toFixed(1).padStart(12)} ns`}`);
  const derived = COST_NAMES.map((k) => `  ${k.padEnd(16)} ${costs[k].toFixed(k === 'uaccessByte' ? 3 : 0).padStart(12)} ns`);
  process.stdout.write(`measured (one operation, median over ${rounds} rounds):\n${lines.join('\n')}\ncost table written to ${values.output}:\n${derived.join('\n')}\n`);
  return 0;
}

/** The host's CPU, CPU count and kernel, for the table's `host`. */
function probeHost(): string {
  const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc; uname -r"], { encoding: 'utf8' }).trim().split('\n');
  return `${cpu[1]} x ${cpu[0].trim()}, Linux ${cpu[2]}`;
}
