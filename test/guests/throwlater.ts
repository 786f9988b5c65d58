// A guest whose error is thrown from a timer callback (argv[0] 'timer') or a promise
// rejection nobody handles ('reject'), after main returned a pending promise; or at once
// ('now'). Each must die of SIGABRT with its error, at its own source line.
export default function main(argv: string[]): Promise<number> {
  const how = argv[0];
  if (how === 'now') throw new Error('thrown at once');
  if (how === 'reject') void Promise.reject(new Error('rejected, unhandled'));
  else setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
  return new Promise(() => setTimeout(() => undefined, 60_000));
}
