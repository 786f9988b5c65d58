// Run by test/host/crash.test.ts in a Node process of its own: boot a machine, start a spawn
// storm, crash the kernel after argv[2] ms, shut down, and print "down". It never calls
// process.exit: the process ends by itself only if no worker was left behind.
import { fileURLToPath } from 'node:url';
import { Machine } from '../../host/machine.ts';

const STORM = fileURLToPath(new URL('../guests/storm.ts', import.meta.url));
const machine = await Machine.boot({ memBytes: 64 << 20, output: () => undefined });
const exit = machine.waitExit(await machine.spawn(STORM, []));
exit.catch(() => undefined);
await new Promise((r) => setTimeout(r, Number(process.argv[2])));
machine.crashKernel();
await exit.then(() => console.log('exited before the crash'), (e: Error) => console.log(`crashed: ${/kernel thread crashed/.test(e.message)}`));
await machine.shutdown();
console.log('down');
