// hugetlb from a guest: the pools under /sys/kernel/mm/hugepages and /proc/meminfo.
import * as U from 'ptlab/userland';
import { print } from 'ptlab/userland';
import { code } from './util.ts';

const POOL2M = '/sys/kernel/mm/hugepages/hugepages-2048kB';
const POOL1G = '/sys/kernel/mm/hugepages/hugepages-1048576kB';

function set(path: string, text: string): string {
  return code(() => {
    const fd = U.open(path, U.O_WRONLY);
    try {
      U.writeAll(fd, text);
    } finally {
      U.close(fd);
    }
  });
}

const meminfo = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(U.readFile('/proc/meminfo'))?.[1]);
const read = (path: string) => U.readFile(path).trim();

export default function main(): number {
  const out: string[] = [];
  const free0 = meminfo('MemFree');
  out.push(`set ${set(`${POOL2M}/nr_hugepages`, '4\n')} bogus ${set(`${POOL2M}/nr_hugepages`, 'many')} read-only ${set(`${POOL2M}/free_hugepages`, '1')}`);
  out.push(`pool ${read(`${POOL2M}/nr_hugepages`)} free ${read(`${POOL2M}/free_hugepages`)} resv ${read(`${POOL2M}/resv_hugepages`)}`);
  out.push(`meminfo total ${meminfo('HugePages_Total')} free ${meminfo('HugePages_Free')} size ${meminfo('Hugepagesize')} hugetlb ${meminfo('Hugetlb')} memfree-drop ${free0 - meminfo('MemFree')}`);
  // A 1 GiB page cannot come out of a 128 MiB machine: the pool stays empty.
  out.push(`1g ${set(`${POOL1G}/nr_hugepages`, '1')} pool ${read(`${POOL1G}/nr_hugepages`)}`);
  set(`${POOL2M}/nr_hugepages`, '0');
  out.push(`shrunk ${read(`${POOL2M}/nr_hugepages`)} memfree-back ${meminfo('MemFree') === free0}`);
  print(out.join('\n'));
  return 0;
}
