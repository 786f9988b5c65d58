// The failing MAP_FIXED cases of examples/map-fixed.ts, on the host's Linux: one line per
// case, "errno, what is at the address afterwards", in the example's words and order.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define P 4096
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static const char *after(char *p) {
  unsigned char v;
  if (mincore(p, P, &v) != 0) return "a hole";
  int x = *(int *)p;
  return x == 42 ? "the old data" : x == 0 ? "a new page" : "other";
}

static void row(void *r, char *p) {
  printf("%s, %s\n", r == MAP_FAILED ? (errno == EPERM ? "EPERM" : errno == ENOMEM ? "ENOMEM" : strerror(errno)) : "ok", after(p));
}

static long vm_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = 0;
  while (fgets(line, sizeof line, f)) if (strncmp(line, "VmSize:", 7) == 0) v = atol(line + 7);
  fclose(f);
  return v;
}

int main(void) {
  char *s = mmap(0, P, RW, ANON, -1, 0);
  *(int *)s = 42;
  if (syscall(462, s, P, 0) != 0) return 2; // mseal: Linux 6.10 and later
  row(mmap(s, P, RW, ANON | MAP_FIXED, -1, 0), s);
  char *d = mmap(0, 32 * P, RW, ANON, -1, 0);
  munmap(d + 16 * P, 16 * P);
  *(int *)d = 42;
  struct rlimit old, full;
  getrlimit(RLIMIT_AS, &old);
  full.rlim_cur = vm_kib() * 1024;
  full.rlim_max = old.rlim_max;
  setrlimit(RLIMIT_AS, &full);
  row(mmap(d, 32 * P, RW, ANON | MAP_FIXED, -1, 0), d);
  row(mmap(d, 16 * P, RW, ANON | MAP_FIXED, -1, 0), d);
  setrlimit(RLIMIT_AS, &old);
  size_t huge = 2 << 20;
  char *raw = mmap(0, 2 * huge, RW, ANON, -1, 0);
  char *h = (char *)(((unsigned long)raw + huge - 1) & ~(huge - 1));
  *(int *)h = 42;
  row(mmap(h, huge, RW, ANON | MAP_FIXED | MAP_HUGETLB, -1, 0), h);
  return 0;
}
