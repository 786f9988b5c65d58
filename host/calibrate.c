// ptlab calibrate's probe (host/calibrate.ts compiles and runs it): times the host Linux
// kernel doing what modeled time charges for, and prints one "name ns" line per measure,
// the ns of one operation: the median of every operation timed on its own, so that the
// operations a loaded host preempts (a few, when one is much shorter than a time slice)
// do not move it, where the mean of a timed batch would take the load in.
//
//   getpid        one getpid(2)
//   zero          memset of a 4 KiB page (a 256-page ring, so it stays in L2; timed by 64)
//   copy          memcpy of a 4 KiB page (same ring, timed by 64)
//   touch_read    a read fault of private anonymous memory (maps the zero page)
//   touch_write   a first-touch write fault (allocates, zeroes and maps a page)
//   cow           a write fault after fork on a page the parent wrote (copies it)
//   munmap_touched, munmap_empty   munmap of 16 pages written first / never touched, per page
//   mmap_munmap   mmap of one anonymous page and its munmap
//   munmap_remote munmap of one written page while a thread of the process spins on
//                 another CPU (the shootdown IPI and its acknowledgement)
//   munmap_local  the same without that thread
//   fork          fork, the child's _exit and waitpid
//   fork_touched  the same from a process with FORK_PAGES private pages written (fork copies
//                 their PTEs, the child's exit zaps them)
//   thread        pthread_create and pthread_join of a thread that returns at once
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
static long iters;
static int rounds;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, long n) {
  qsort(v, n, sizeof *v, cmp);
  return v[n / 2];
}

/** Samples of the probe running now: one per operation. */
static double *samples;
static long nsamples;
static double overhead;

static void sample(double t0, double per) { samples[nsamples++] = (now_ns() - t0 - overhead) / per; }

static char *map(long pages) {
  char *p = mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  return p;
}

static void t_clock(void) {
  for (long i = 0; i < iters; i++) sample(now_ns(), 1);
}

static void t_getpid(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    syscall(SYS_getpid);
    sample(t0, 1);
  }
}

static char ring[256 * PAGE] __attribute__((aligned(PAGE)));
static char src[PAGE] __attribute__((aligned(PAGE)));

static void t_zero(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    for (int k = 0; k < 64; k++) {
      memset(ring + ((i * 64 + k) % 256) * PAGE, 0, PAGE);
      __asm__ volatile("" ::: "memory");
    }
    sample(t0, 64);
  }
}

static void t_copy(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    for (int k = 0; k < 64; k++) {
      memcpy(ring + ((i * 64 + k) % 256) * PAGE, src, PAGE);
      __asm__ volatile("" ::: "memory");
    }
    sample(t0, 64);
  }
}

static void touch(int write) {
  volatile char *p = map(iters);
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    if (write) p[i * PAGE] = 1;
    else (void)p[i * PAGE];
    sample(t0, 1);
  }
  munmap((void *)p, iters * PAGE);
}

static void t_cow(void) {
  char *p = map(iters);
  for (long i = 0; i < iters; i++) p[i * PAGE] = 1;
  int fds[2];
  if (pipe(fds) != 0) { perror("pipe"); exit(1); }
  pid_t pid = fork();
  if (pid == 0) {
    for (long i = 0; i < iters; i++) {
      double t0 = now_ns();
      p[i * PAGE] = 2;
      sample(t0, 1);
    }
    if (write(fds[1], samples, nsamples * sizeof *samples) != (ssize_t)(nsamples * sizeof *samples)) _exit(1);
    _exit(0);
  }
  size_t want = iters * sizeof *samples, got = 0;
  while (got < want) {
    ssize_t r = read(fds[0], (char *)(samples + nsamples) + got, want - got);
    if (r <= 0) { perror("read"); exit(1); }
    got += r;
  }
  nsamples += iters;
  waitpid(pid, 0, 0);
  close(fds[0]);
  close(fds[1]);
  munmap(p, iters * PAGE);
}

static void unmap16(int touched) {
  for (long i = 0; i < iters; i++) {
    char *p = map(16);
    if (touched) for (int k = 0; k < 16; k++) p[k * PAGE] = 1;
    double t0 = now_ns();
    munmap(p, 16 * PAGE);
    sample(t0, 16);
  }
}

static void t_mmap_munmap(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    munmap(map(1), PAGE);
    sample(t0, 1);
  }
}

static atomic_int spin_stop;
static volatile char spin_sink;

static void *spinner(void *arg) {
  (void)arg;
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) spin_sink++;
  return 0;
}

static void pin(pthread_t t, int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(t, sizeof s, &s);
}

static void t_munmap_local(void) {
  for (long i = 0; i < iters; i++) {
    char *p = map(1);
    p[0] = 1;
    double t0 = now_ns();
    munmap(p, PAGE);
    sample(t0, 1);
  }
}

static void t_munmap_remote(void) {
  pthread_t t;
  atomic_store(&spin_stop, 0);
  pthread_create(&t, 0, spinner, 0);
  pin(t, 1);
  pin(pthread_self(), 0);
  usleep(1000);
  t_munmap_local();
  atomic_store(&spin_stop, 1);
  pthread_join(t, 0);
}

static void t_fork(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, 0, 0);
    sample(t0, 1);
  }
}

#define FORK_PAGES 4096
static void t_fork_touched(void) {
  char *p = map(FORK_PAGES);
  for (long i = 0; i < FORK_PAGES; i++) p[i * PAGE] = 1;
  t_fork();
  munmap(p, FORK_PAGES * PAGE);
}

static void *nothing(void *arg) { return arg; }

static void t_thread(void) {
  for (long i = 0; i < iters; i++) {
    double t0 = now_ns();
    pthread_t t;
    pthread_create(&t, 0, nothing, 0);
    pthread_join(t, 0);
    sample(t0, 1);
  }
}

typedef void (*probe)(void);
static void t_touch_read(void) { touch(0); }
static void t_touch_write(void) { touch(1); }
static void t_munmap_touched(void) { unmap16(1); }
static void t_munmap_empty(void) { unmap16(0); }

static double run(const char *name, probe f, long n) {
  long saved = iters;
  iters = n < 1 ? 1 : n;
  samples = malloc(rounds * iters * sizeof *samples);
  nsamples = 0;
  for (int r = 0; r < rounds; r++) f();
  double m = median(samples, nsamples);
  free(samples);
  iters = saved;
  if (name != 0) {
    printf("%s %.1f\n", name, m);
    fflush(stdout); /* a line per measure as it ends: ptlab calibrate's progress */
  }
  return m;
}

int main(int argc, char **argv) {
  double scale = argc > 1 ? atof(argv[1]) : 1;
  rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (rounds < 1) rounds = 1;
  memset(src, 7, PAGE);
  long n = (long)(scale * 4000);
  overhead = run(0, t_clock, n);
  run("getpid", t_getpid, n);
  run("zero", t_zero, n);
  run("copy", t_copy, n);
  run("touch_read", t_touch_read, n);
  run("touch_write", t_touch_write, n);
  run("cow", t_cow, n);
  run("munmap_touched", t_munmap_touched, n / 16);
  run("munmap_empty", t_munmap_empty, n / 16);
  run("mmap_munmap", t_mmap_munmap, n);
  run("munmap_local", t_munmap_local, n);
  run("munmap_remote", t_munmap_remote, n);
  run("fork", t_fork, n / 100);
  run("fork_touched", t_fork_touched, n / 100);
  printf("fork_pages %d\n", FORK_PAGES);
  run("thread", t_thread, n / 20);
  return 0;
}
