// ptlab calibrate's probe (host/calibrate.ts compiles and runs it): times the host Linux
// kernel doing what modeled time charges for, and prints one "name ns" line per measure,
// the ns of one operation (the minimum over `rounds` rounds of `iters` operations each).
//
//   getpid        one getpid(2)
//   zero          memset of a 4 KiB page (a 256-page ring, so it stays in L2)
//   copy          memcpy of a 4 KiB page (same ring)
//   touch_read    a read fault of private anonymous memory (maps the zero page)
//   touch_write   a first-touch write fault (allocates, zeroes and maps a page)
//   cow           a write fault after fork on a page the parent wrote (copies it)
//   munmap_touched, munmap_empty   munmap of `iters` pages written first / never touched
//   mmap_munmap   mmap of one anonymous page and its munmap
//   munmap_remote mmap, write and munmap of one page while a thread of the process spins
//                 on another CPU (the shootdown IPI and its acknowledgement)
//   munmap_local  the same without that thread
//   fork          fork, the child's _exit and waitpid
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

static void report(const char *name, double best) { printf("%s %.1f\n", name, best); }

static char *map(long pages) {
  char *p = mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  return p;
}

static double t_getpid(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) syscall(SYS_getpid);
  return (now_ns() - t0) / iters;
}

static char ring[256 * PAGE] __attribute__((aligned(PAGE)));
static char src[PAGE] __attribute__((aligned(PAGE)));

static double t_zero(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    memset(ring + (i % 256) * PAGE, 0, PAGE);
    __asm__ volatile("" ::: "memory");
  }
  return (now_ns() - t0) / iters;
}

static double t_copy(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    memcpy(ring + (i % 256) * PAGE, src, PAGE);
    __asm__ volatile("" ::: "memory");
  }
  return (now_ns() - t0) / iters;
}

static double t_touch(int write) {
  volatile char *p = map(iters);
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    if (write) p[i * PAGE] = 1;
    else (void)p[i * PAGE];
  }
  double t = (now_ns() - t0) / iters;
  munmap((void *)p, iters * PAGE);
  return t;
}

static double t_cow(void) {
  char *p = map(iters);
  for (long i = 0; i < iters; i++) p[i * PAGE] = 1;
  int fds[2];
  if (pipe(fds) != 0) { perror("pipe"); exit(1); }
  pid_t pid = fork();
  if (pid == 0) {
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) p[i * PAGE] = 2;
    double t = (now_ns() - t0) / iters;
    if (write(fds[1], &t, sizeof t) != sizeof t) _exit(1);
    _exit(0);
  }
  double t = 0;
  if (read(fds[0], &t, sizeof t) != sizeof t) { perror("read"); exit(1); }
  waitpid(pid, 0, 0);
  close(fds[0]);
  close(fds[1]);
  munmap(p, iters * PAGE);
  return t;
}

static double t_munmap(int touched) {
  char *p = map(iters);
  if (touched) for (long i = 0; i < iters; i++) p[i * PAGE] = 1;
  double t0 = now_ns();
  munmap(p, iters * PAGE);
  return (now_ns() - t0) / iters;
}

static double t_mmap_munmap(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) munmap(map(1), PAGE);
  return (now_ns() - t0) / iters;
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

static double t_munmap_one(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    char *p = map(1);
    p[0] = 1;
    munmap(p, PAGE);
  }
  return (now_ns() - t0) / iters;
}

static double t_munmap_remote(void) {
  pthread_t t;
  atomic_store(&spin_stop, 0);
  pthread_create(&t, 0, spinner, 0);
  pin(t, 1);
  pin(pthread_self(), 0);
  usleep(1000);
  double r = t_munmap_one();
  atomic_store(&spin_stop, 1);
  pthread_join(t, 0);
  return r;
}

static double t_fork(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    waitpid(pid, 0, 0);
  }
  return (now_ns() - t0) / iters;
}

static void *nothing(void *arg) { return arg; }

static double t_thread(void) {
  double t0 = now_ns();
  for (long i = 0; i < iters; i++) {
    pthread_t t;
    pthread_create(&t, 0, nothing, 0);
    pthread_join(t, 0);
  }
  return (now_ns() - t0) / iters;
}

typedef double (*probe)(void);
static double t_touch_read(void) { return t_touch(0); }
static double t_touch_write(void) { return t_touch(1); }
static double t_munmap_touched(void) { return t_munmap(1); }
static double t_munmap_empty(void) { return t_munmap(0); }

static void run(const char *name, probe f, long n) {
  long saved = iters;
  iters = n < 1 ? 1 : n;
  double best = 1e300;
  for (int r = 0; r < rounds; r++) {
    double t = f();
    if (t < best) best = t;
  }
  iters = saved;
  report(name, best);
}

int main(int argc, char **argv) {
  double scale = argc > 1 ? atof(argv[1]) : 1;
  rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (rounds < 1) rounds = 1;
  memset(src, 7, PAGE);
  long n = (long)(scale * 20000);
  run("getpid", t_getpid, n * 5);
  run("zero", t_zero, n * 5);
  run("copy", t_copy, n * 5);
  run("touch_read", t_touch_read, n);
  run("touch_write", t_touch_write, n);
  run("cow", t_cow, n);
  run("munmap_touched", t_munmap_touched, n);
  run("munmap_empty", t_munmap_empty, n);
  run("mmap_munmap", t_mmap_munmap, n);
  run("munmap_local", t_munmap_one, n);
  run("munmap_remote", t_munmap_remote, n);
  run("fork", t_fork, n / 200);
  run("thread", t_thread, n / 20);
  return 0;
}
