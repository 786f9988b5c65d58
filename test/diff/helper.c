/*
 * Differential-test helper: runs memory-syscall scripts natively on the host kernel.
 *
 * Input (stdin), one script after another:
 *   script
 *   mmap OFF LEN PROT FLAGS        (MAP_FIXED* only: OFF is relative to the range base)
 *   munmap OFF LEN
 *   mprotect OFF LEN PROT
 *   madvise OFF LEN ADVICE
 *   mseal OFF LEN FLAGS
 *   mlock OFF LEN FLAGS            (FLAGS 2: mlock(2); else mlock2 with FLAGS)
 *   munlock OFF LEN
 *   mlockall FLAGS                 (0: munlockall)
 *   mincore OFF LEN                ("r 0 BITS", one 0/1 per page)
 *   mremap OFF OLDLEN NEWLEN FLAGS NEWOFF  ("r out" for a move out of the range)
 *   end
 * Output, per script: one line per operation, the result ("r OFF" for mmap success relative
 * to the base, "r 0" for success, "e ERRNO" on failure), then the /proc/self/maps lines
 * inside the range as "m START END PERMS" (offsets), then "end".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RANGE (256UL * 4096)

static unsigned long base;
static int sealed = 1; /* reserve a hole before the first script */

static void reserve(void) {
	/* A hole of RANGE bytes at a fixed place, between two guard mappings. */
	void *p = mmap(NULL, RANGE + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) { perror("reserve"); exit(2); }
	base = (unsigned long)p + 4096;
	munmap((void *)base, RANGE);
}

static void maps(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) != 3) continue;
		if (e <= base || s >= base + RANGE) continue;
		if (s < base) s = base;
		if (e > base + RANGE) e = base + RANGE;
		printf("m %lu %lu %s\n", s - base, e - base, perms);
	}
	fclose(f);
}

int main(void) {
	char op[32];
	while (scanf("%31s", op) == 1) {
		unsigned long a, b, c, d;
		long r = 0;
		if (!strcmp(op, "script")) {
			/* Reuse the hole, or take a fresh one if mappings in it were sealed (no munseal). */
			munlockall();
			if (sealed) reserve();
			else munmap((void *)base, RANGE);
			sealed = 0;
			continue;
		}
		if (!strcmp(op, "end")) {
			maps();
			printf("end\n");
			fflush(stdout);
			continue;
		}
		errno = 0;
		if (!strcmp(op, "mmap")) {
			if (scanf("%lu %lu %lu %lu", &a, &b, &c, &d) != 4) return 2;
			void *p = mmap((void *)(base + a), b, (int)c, (int)d, -1, 0);
			r = p == MAP_FAILED ? -1 : (long)((unsigned long)p - base);
		} else if (!strcmp(op, "munmap")) {
			if (scanf("%lu %lu", &a, &b) != 2) return 2;
			r = munmap((void *)(base + a), b);
		} else if (!strcmp(op, "mprotect")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = mprotect((void *)(base + a), b, (int)c);
		} else if (!strcmp(op, "mseal")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = syscall(462, base + a, b, c);
			sealed = 1;
		} else if (!strcmp(op, "mlock")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = c == 2 ? mlock((void *)(base + a), b) : syscall(325, base + a, b, c);
		} else if (!strcmp(op, "munlock")) {
			if (scanf("%lu %lu", &a, &b) != 2) return 2;
			r = munlock((void *)(base + a), b);
		} else if (!strcmp(op, "mlockall")) {
			if (scanf("%lu", &a) != 1) return 2;
			r = a == 0 ? munlockall() : mlockall((int)a);
		} else if (!strcmp(op, "mincore")) {
			static unsigned char vec[RANGE / 4096 + 1];
			if (scanf("%lu %lu", &a, &b) != 2) return 2;
			memset(vec, 9, sizeof vec);
			r = mincore((void *)(base + a), b, vec);
			if (r == -1) { printf("e %d\n", errno); continue; }
			printf("r 0 ");
			for (unsigned long i = 0; i < (b + 4095) / 4096; i++) putchar('0' + (vec[i] & 1));
			putchar('\n');
			continue;
		} else if (!strcmp(op, "mremap")) {
			unsigned long e2, f;
			if (scanf("%lu %lu %lu %lu %lu", &a, &b, &c, &e2, &f) != 5) return 2;
			void *p = mremap((void *)(base + a), b, c, (int)e2, (void *)(base + f));
			if (p == MAP_FAILED) { printf("e %d\n", errno); continue; }
			unsigned long off = (unsigned long)p - base;
			if (off >= RANGE) printf("r out\n"); else printf("r %lu\n", off);
			continue;
		} else if (!strcmp(op, "madvise")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = madvise((void *)(base + a), b, (int)c);
		} else {
			fprintf(stderr, "bad op %s\n", op);
			return 2;
		}
		if (r == -1 && errno != 0) printf("e %d\n", errno);
		else printf("r %ld\n", r);
	}
	return 0;
}
