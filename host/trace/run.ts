// Record and replay as ptlab's commands use them: the header of a recorded run, and the
// replay of a whole trace into stat's report (per process and machine).

import { CPU_COUNTERS, PRESETS, type TlbConfig } from '../../machine/index.ts';
import type { Machine } from '../machine.ts';
import { statReport, type StatReport } from '../cli.ts';
import { readTrace, writeTrace, type TraceFile, type TraceHeader } from './file.ts';
import { StreamReplayer, type ReplayOptions } from './replay.ts';

/** Write the trace of a machine that ran with `record` (after its shutdown). Returns the file's size. */
export function saveTrace(file: string, machine: Machine, command: string[]): number {
  const o = machine.options;
  const header: Omit<TraceHeader, 'streams' | 'version'> = {
    command,
    config: {
      preset: o.preset, policy: o.policy, seed: 1, geometry: PRESETS[o.preset], pcide: false, pge: true,
      memBytes: o.memBytes, nrCpus: o.nrCpus,
      options: { swapBytes: o.swapBytes, zeroPage: o.zeroPage, softDirty: o.softDirty, maxProcs: o.maxProcs, slicePages: o.slicePages },
    },
    processes: machine.exits.map((e) => ({ pid: e.pid, ppid: e.ppid, path: e.path, exitCode: e.exitCode, signal: e.signal, counters: e.counters })),
  };
  return writeTrace(file, header, machine.traceStreams);
}

/** The recorded configuration of a trace, as replay's default. */
export function recordedConfig(h: TraceHeader): TlbConfig {
  return { geometry: h.config.geometry, policy: h.config.policy, seed: h.config.seed };
}

/** Progress of a replay: compressed chunks done of all. */
export type Progress = (done: number, total: number) => void;

/**
 * Replay every stream of a trace under `config` (default: the recorded one). The report
 * has stat's shape; its counters are the TLB model's (cycles: the translation part of the
 * modeled clock alone, no kernel time).
 */
export function replayTrace(trace: string | TraceFile, config?: TlbConfig, options: ReplayOptions = {}, progress?: Progress): StatReport {
  const t0 = performance.now();
  const t = typeof trace === 'string' ? readTrace(trace) : trace;
  const h = t.header;
  const cfg = config ?? recordedConfig(h);
  const recorded = JSON.stringify(cfg) === JSON.stringify(recordedConfig(h));
  const total = t.chunks.reduce((n, c) => n + c.length, 0);
  let done = 0;
  const perPid = new Map<number, { counters: Record<string, number>; threads: number }>();
  t.chunks.forEach((chunks, i) => {
    const s = h.streams[i];
    const r = new StreamReplayer(cfg, h.config.pge, h.config.pcide, { recorded, ...options });
    const c = r.run(chunks, s.pid, progress === undefined ? undefined : () => progress(++done, total));
    let p = perPid.get(s.pid);
    if (p === undefined) {
      p = { counters: Object.fromEntries(CPU_COUNTERS.map((d) => [d.name, 0])), threads: 0 };
      perPid.set(s.pid, p);
    }
    p.threads++;
    for (const [k, v] of Object.entries(c)) p.counters[k] += v;
  });
  const procs = h.processes.filter((p) => perPid.has(p.pid));
  for (const pid of perPid.keys()) {
    if (!procs.some((p) => p.pid === pid)) procs.push({ pid, ppid: 0, path: '?', exitCode: null, signal: null, counters: {} });
  }
  const exits = procs.map((p) => ({
    pid: p.pid, ppid: p.ppid, path: p.path, status: 0, report: '', exitCode: p.exitCode, signal: p.signal,
    counters: perPid.get(p.pid)?.counters ?? {}, syscalls: {}, threads: perPid.get(p.pid)?.threads ?? 0, hiwaterRss: 0,
    proc: {}, values: {}, clockStart: 0, clockEnd: perPid.get(p.pid)?.counters.cycles ?? 0,
  }));
  const ghz = (cfg.geometry.latencies ?? PRESETS.skylake.latencies)?.ghz ?? 3;
  return statReport(['replay', ...h.command], exits, {}, (performance.now() - t0) / 1000, [], ghz);
}

/** Counters that replay reproduces: all but the modeled cycles (kernel time) and the emulator's own. */
export function tlbCounterNames(): string[] {
  return CPU_COUNTERS.map((d) => d.name).filter((n) => n !== 'cycles' && !n.startsWith('emu.'));
}
