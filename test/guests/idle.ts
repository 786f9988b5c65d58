// Guest of test/bench/idlemem.ts: a process that sits idle (its event loop waits for a
// message) until 'stop' arrives over the BroadcastChannel named argv[0].
export default function main(argv: string[]): Promise<number> {
  const ch = new BroadcastChannel(argv[0]);
  return new Promise((resolve) => {
    ch.onmessage = (ev: MessageEvent) => {
      if (ev.data !== 'stop') return; // another guest's 'ready'
      ch.close();
      resolve(0);
    };
    ch.postMessage('ready');
  });
}
