// Leaves a 16 KiB tmpfs file behind: its pages outlive the process (the soak's leak check
// must see them as frames not free).
import { open, O_CREAT, O_WRONLY, close, writeString } from 'ptlab/userland';

export default function main(): number {
  const fd = open('/tmp/soak-litter', O_CREAT | O_WRONLY, 0o644);
  writeString(fd, 'x'.repeat(16384));
  close(fd);
  return 0;
}
