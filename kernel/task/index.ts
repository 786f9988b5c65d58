// kernel/task: processes and threads, the public face: the task table, starting (fork),
// ending and waiting (exit), signals, credentials, identity and limits (sys), and the OOM
// killer's choice and kill (oom).

export { sysCapget, sysCapset } from './cred.ts';
export { cpuExited, die, exitStep, killProcess, sysExit, sysExitGroup, sysThreadJoin, sysWait4 } from './exit.ts';
export { spawn, sysClone, sysSpawn } from './fork.ts';
export { type OomControl, type OomResult, outOfMemory } from './oom.ts';
export { postedRequest, showState, slicedCalls } from './sysrq.ts';
export { faultSignal, signalProcess, sysKill, sysSigaction, sysTkill } from './signal.ts';
export { sysGetpid, sysGetppid, sysGetrlimit, sysGettid, sysPrctl, sysPrlimit, sysReport, sysSchedYield, sysSetrlimit } from './sys.ts';
export { type Process, type Thread } from './task.ts';
export { Tasks } from './tasks.ts';
