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
 *   brk DELTA                      (brk(heap0 + DELTA), "r NEWBREAK - heap0"; heap0 is the
 *                                   break at start, and every script starts from it)
 *   hprotect OFF LEN PROT          (mprotect at heap0 + OFF)
 *   mmapx OFF LEN PROT FLAGS FD OFFSET  (any mmap; OFF -1 means a NULL hint; "r out" for a
 *                                   result outside the range)
 *   aslimit PAGES / datalimit PAGES (RLIMIT_AS / RLIMIT_DATA = the current VmSize / VmData
 *                                   plus PAGES pages; reset to unlimited by each "script")
 *   pagemap OFF PAGES              ("r 0 F..." with /proc/self/pagemap's flag bits 55-63 of
 *                                   each page, in hex; PFNs are not compared)
 *   clearrefs N                    (write N to /proc/self/clear_refs)
 *   pmscan OFF LEN FLAGS INVERTED MASK ANYOF RETURN MAXPAGES VECLEN
 *                                  (PAGEMAP_SCAN over [OFF, OFF + LEN): "r N WALKEND
 *                                   START-END:CATEGORIES..." in hex, relative to the base)
 *   dropipclock                    (drop CAP_IPC_LOCK for good: only in the last script)
 *   memlocklimit BYTES             (RLIMIT_MEMLOCK, soft and hard)
 *   memfd FLAGS SIZE               (memfd_create("d", FLAGS), ftruncate SIZE: "r SEALS", the
 *                                   F_GET_SEALS answer; the script's memfd, closed at "script")
 *   mapfd OFF LEN PROT FLAGS FOFF  (mmap of the memfd at base + OFF, file offset FOFF)
 *   seal SEALS                     (F_ADD_SEALS on the memfd: "r SEALS" with F_GET_SEALS after)
 *   fdio OP OFF LEN                (on the memfd: 0 pwrite LEN bytes at OFF, 1 ftruncate OFF,
 *                                   2 fallocate, 3 PUNCH_HOLE|KEEP_SIZE, 4 KEEP_SIZE)
 *   vmaname OFF LEN N              (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) with name N of
 *                                   VMA_NAMES, scripts.ts's list; 0 is NULL)
 *   end
 * Output, per script: one line per operation, the result ("r OFF" for mmap success relative
 * to the base, "r 0" for success, "e ERRNO" on failure), then the /proc/self/maps lines
 * inside the range as "m START END PERMS OFFSET NAME" (START and END relative to the base,
 * clipped to the range), the heap's VMAs as "h START END PERMS NAME" (relative to heap0),
 * then per VMA in the range the /proc/self/smaps figures as
 * "s START Size Rss Pss Pss_Dirty Shared_Clean Shared_Dirty Private_Clean Private_Dirty
 * Referenced Anonymous Locked VmFlags...", then "end".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <linux/capability.h>
#include <linux/falloc.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RANGE (256UL * 4096)

static unsigned long base;
static int sealed = 1; /* reserve a hole before the first script */

#define ABOVE (64UL << 20)
#define HEAP_WINDOW (16UL << 20)

/*
 * No malloc anywhere (static stdio buffers, /proc read with read(2)), so that the heap is
 * the scripts' alone: brk operations start from an empty heap.
 */
static char inbuf[1 << 16], outbuf[1 << 16];
static char text[8 << 20];
static char *cursor;
static unsigned long heap0;
/*
 * Set by MADV_FREE in the current script. smaps' Referenced then reads "-": Linux clears
 * the referenced flag of pages MADV_FREE made lazy only when a per-CPU batch drains, so
 * the figure varies from run to run.
 */
static int freed;
/* The script's memfd (memfd, mapfd, seal, fdio), or -1. */
static int memfd = -1;

/* A "Name:   N kB" field of /proc/self/status, in bytes. */
static unsigned long status_kb(const char *name);

static void slurp(const char *path) {
	int fd = open(path, O_RDONLY);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, text + n, sizeof text - 1 - n)) > 0) n += r;
	close(fd);
	text[n] = 0;
	cursor = text;
}

/* The next line of the slurped file with its newline, like fgets. */
static int nextline(char *line, size_t size) {
	size_t i = 0;
	if (!*cursor) return 0;
	while (*cursor && *cursor != '\n') {
		if (i + 2 < size) line[i++] = *cursor;
		cursor++;
	}
	if (*cursor == '\n') cursor++;
	line[i++] = '\n';
	line[i] = 0;
	return 1;
}

static void reserve(void) {
	/*
	 * A hole of RANGE bytes between two guard mappings, with 64 MiB free above them so that
	 * mremap moves and placements without a hint land there, outside the range.
	 */
	void *p = mmap(NULL, RANGE + 2 * 4096 + ABOVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) { perror("reserve"); exit(2); }
	base = (unsigned long)p + 4096;
	munmap((void *)base, RANGE);
	munmap((void *)(base + RANGE + 4096), ABOVE);
}

static void maps(void) {
	slurp("/proc/self/maps");
	char line[512];
	while (nextline(line, sizeof line)) {
		unsigned long s, e, off;
		char perms[5];
		int name = 0;
		if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %n", &s, &e, perms, &off, &name) != 4) continue;
		if (e <= base || s >= base + RANGE) continue;
		if (s < base) s = base;
		if (e > base + RANGE) e = base + RANGE;
		line[strcspn(line, "\n")] = 0;
		printf("m %lu %lu %s %lx %s\n", s - base, e - base, perms, off, line + name);
	}
	/* The heap: VMAs that start in [heap0, heap0 + HEAP_WINDOW). */
	slurp("/proc/self/maps");
	while (nextline(line, sizeof line)) {
		unsigned long s, e, off;
		char perms[5];
		int name = 0;
		if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %n", &s, &e, perms, &off, &name) != 4) continue;
		if (s < heap0 || s >= heap0 + HEAP_WINDOW) continue;
		line[strcspn(line, "\n")] = 0;
		printf("h %lu %lu %s %s\n", s - heap0, e - heap0, perms, line + name);
	}
}

static unsigned long status_kb(const char *name) {
	char line[512];
	size_t n = strlen(name);
	slurp("/proc/self/status");
	while (nextline(line, sizeof line))
		if (!strncmp(line, name, n) && line[n] == ':') return strtoul(line + n + 1, NULL, 10) * 1024;
	return 0;
}

static void set_limit(int resource, unsigned long bytes) {
	struct rlimit r = { bytes, RLIM_INFINITY }; /* soft only: raising a hard limit needs CAP_SYS_RESOURCE */
	if (setrlimit(resource, &r)) { perror("setrlimit"); exit(2); }
}

/* The smaps figures compared, in this order. */
static const char *const FIELDS[] = {
	"Size", "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
	"Private_Dirty", "Referenced", "Anonymous", "Locked",
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

static void smaps(void) {
	slurp("/proc/self/smaps");
	char line[512];
	int in = 0;
	unsigned long vals[NFIELDS], start = 0;
	while (nextline(line, sizeof line)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = !(e <= base || s >= base + RANGE);
			start = s < base ? 0 : s - base;
			memset(vals, 0, sizeof vals);
			continue;
		}
		if (!in) continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = 0;
			printf("s %lu", start);
			for (unsigned i = 0; i < NFIELDS; i++) {
				if (freed && !strcmp(FIELDS[i], "Referenced")) printf(" -");
				else printf(" %lu", vals[i]);
			}
			printf(" %s\n", line + 9);
			in = 0;
			continue;
		}
		for (unsigned i = 0; i < NFIELDS; i++) {
			size_t n = strlen(FIELDS[i]);
			if (!strncmp(line, FIELDS[i], n) && line[n] == ':') vals[i] = strtoul(line + n + 1, NULL, 10);
		}
	}
}

/*
 * "helper zeropage" prints 1 if this kernel maps the shared zero page on a read fault of
 * private anonymous memory (a read-faulted page is not in Rss), else 0.
 */
static int zeropage(void) {
	volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[512];
	unsigned long rss = 1;
	int in = 0;
	(void)p[0];
	slurp("/proc/self/smaps");
	while (nextline(line, sizeof line)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) in = s <= (unsigned long)p && (unsigned long)p < e;
		else if (in && !strncmp(line, "Rss:", 4)) rss = strtoul(line + 4, NULL, 10);
	}
	printf("%d\n", rss == 0);
	return 0;
}

/* scripts.ts's VMA_NAMES. */
static const char *const VMA_NAMES[] = { NULL, "a", "b", "two words", "bad$" };

/* "helper anonname" prints 1 if prctl(PR_SET_VMA_ANON_NAME) names memory (CONFIG_ANON_VMA_NAME). */
static int anonname(void) {
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("%d\n", syscall(SYS_prctl, 0x53564d41, 0, p, 4096, "x") == 0);
	return 0;
}

/* "helper softdirty" prints 1 if a fresh mapping's VmFlags has sd (CONFIG_MEM_SOFT_DIRTY). */
static int softdirty(void) {
	char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char line[512];
	int in = 0, sd = 0;
	slurp("/proc/self/smaps");
	while (nextline(line, sizeof line)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) in = s <= (unsigned long)p && (unsigned long)p < e;
		else if (in && !strncmp(line, "VmFlags:", 8)) sd = strstr(line, " sd") != NULL;
	}
	printf("%d\n", sd);
	return 0;
}

int main(int argc, char **argv) {
	char op[32];
	if (argc > 1 && !strcmp(argv[1], "zeropage")) return zeropage();
	if (argc > 1 && !strcmp(argv[1], "softdirty")) return softdirty();
	if (argc > 1 && !strcmp(argv[1], "anonname")) return anonname();
	setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	heap0 = syscall(SYS_brk, 0);
	/* fd 3: read-only, fd 4: write-only; neither file can be mapped (the cases' file rows). */
	if (open("/proc/self/maps", O_RDONLY) != 3 || open("/proc/self/status", O_WRONLY) != 4) { perror("open"); return 2; }
	while (scanf("%31s", op) == 1) {
		unsigned long a, b, c, d;
		long r = 0;
		if (!strcmp(op, "script")) {
			/* Reuse the hole, or take a fresh one if mappings in it were sealed (no munseal). */
			munlockall();
			freed = 0;
			if (memfd >= 0) close(memfd);
			memfd = -1;
			set_limit(RLIMIT_AS, RLIM_INFINITY);
			set_limit(RLIMIT_DATA, RLIM_INFINITY);
			syscall(SYS_brk, heap0);
			if (sealed) reserve();
			else munmap((void *)base, RANGE);
			sealed = 0;
			continue;
		}
		if (!strcmp(op, "end")) {
			maps();
			smaps();
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
		} else if (!strcmp(op, "brk")) {
			long delta;
			if (scanf("%ld", &delta) != 1) return 2;
			printf("r %ld\n", (long)(syscall(SYS_brk, heap0 + delta) - heap0));
			continue;
		} else if (!strcmp(op, "mmapx")) {
			long off, fd;
			unsigned long offset;
			if (scanf("%ld %lu %lu %lu %ld %lu", &off, &b, &c, &d, &fd, &offset) != 6) return 2;
			void *p = mmap(off < 0 ? NULL : (void *)(base + off), b, (int)c, (int)d, (int)fd, offset);
			if (p == MAP_FAILED) { printf("e %d\n", errno); continue; }
			unsigned long at = (unsigned long)p - base;
			if (at >= RANGE) printf("r out\n"); else printf("r %lu\n", at);
			continue;
		} else if (!strcmp(op, "aslimit") || !strcmp(op, "datalimit")) {
			long pages;
			int as = !strcmp(op, "aslimit");
			if (scanf("%ld", &pages) != 1) return 2;
			set_limit(as ? RLIMIT_AS : RLIMIT_DATA, status_kb(as ? "VmSize" : "VmData") + pages * 4096);
			r = 0;
		} else if (!strcmp(op, "pagemap")) {
			static uint64_t ents[RANGE / 4096];
			if (scanf("%lu %lu", &a, &b) != 2 || b > RANGE / 4096) return 2;
			int fd = open("/proc/self/pagemap", O_RDONLY);
			if (pread(fd, ents, b * 8, (base + a) / 4096 * 8) != (ssize_t)(b * 8)) { perror("pagemap"); return 2; }
			close(fd);
			printf("r 0");
			for (unsigned long i = 0; i < b; i++) printf(" %x", (unsigned)(ents[i] >> 55));
			printf("\n");
			continue;
		} else if (!strcmp(op, "pmscan")) {
			unsigned long v[9];
			static uint64_t regs[64][3];
			for (int i = 0; i < 9; i++) if (scanf("%lu", &v[i]) != 1) return 2;
			if (v[8] > 64) return 2;
			uint64_t arg[12] = { 96, v[2], base + v[0], base + v[0] + v[1], 0, (uint64_t)(unsigned long)regs, v[8], v[7], v[3], v[4], v[5], v[6] };
			int fd = open("/proc/self/pagemap", O_RDONLY);
			long n = ioctl(fd, 0xC0606610UL, arg);
			int err = errno;
			close(fd);
			if (n < 0) { printf("e %d\n", err); continue; }
			printf("r %ld %lx", n, (unsigned long)(arg[4] - base));
			for (long i = 0; i < n; i++) printf(" %lx-%lx:%lx", (unsigned long)(regs[i][0] - base), (unsigned long)(regs[i][1] - base), (unsigned long)regs[i][2]);
			printf("\n");
			continue;
		} else if (!strcmp(op, "clearrefs")) {
			char text[24];
			if (scanf("%lu", &a) != 1) return 2;
			int fd = open("/proc/self/clear_refs", O_WRONLY);
			int n = sprintf(text, "%lu", a);
			r = write(fd, text, n);
			close(fd);
			if (r == n) r = 0;
		} else if (!strcmp(op, "dropipclock")) {
			struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
			struct __user_cap_data_struct d[2];
			if (syscall(SYS_capget, &h, d)) { perror("capget"); return 2; }
			d[0].effective &= ~(1u << CAP_IPC_LOCK);
			d[0].permitted &= ~(1u << CAP_IPC_LOCK);
			d[0].inheritable &= ~(1u << CAP_IPC_LOCK);
			r = syscall(SYS_capset, &h, d);
		} else if (!strcmp(op, "memlocklimit")) {
			struct rlimit rl;
			if (scanf("%lu", &a) != 1) return 2;
			rl.rlim_cur = rl.rlim_max = a;
			r = setrlimit(RLIMIT_MEMLOCK, &rl);
		} else if (!strcmp(op, "hprotect")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = mprotect((void *)(heap0 + a), b, (int)c);
		} else if (!strcmp(op, "madvise")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3) return 2;
			r = madvise((void *)(base + a), b, (int)c);
			if (c == MADV_FREE) freed = 1;
		} else if (!strcmp(op, "memfd")) {
			if (scanf("%lu %lu", &a, &b) != 2) return 2;
			memfd = syscall(SYS_memfd_create, "d", (unsigned)a);
			r = memfd < 0 ? -1 : ftruncate(memfd, b);
			if (r == 0) r = fcntl(memfd, F_GET_SEALS);
		} else if (!strcmp(op, "mapfd")) {
			unsigned long e2;
			if (scanf("%lu %lu %lu %lu %lu", &a, &b, &c, &d, &e2) != 5) return 2;
			void *p = mmap((void *)(base + a), b, (int)c, (int)d, memfd, e2);
			r = p == MAP_FAILED ? -1 : (long)((unsigned long)p - base);
		} else if (!strcmp(op, "seal")) {
			if (scanf("%lu", &a) != 1) return 2;
			r = fcntl(memfd, F_ADD_SEALS, (unsigned)a);
			if (r == 0) r = fcntl(memfd, F_GET_SEALS);
		} else if (!strcmp(op, "fdio")) {
			static char wbuf[2 * 4096 + 8];
			static const int modes[] = { 0, 0, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE };
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3 || a > 4 || (a == 0 && c > sizeof wbuf)) return 2;
			if (a == 0) r = pwrite(memfd, wbuf, c, b);
			else if (a == 1) r = ftruncate(memfd, b);
			else r = fallocate(memfd, modes[a], b, c);
		} else if (!strcmp(op, "vmaname")) {
			if (scanf("%lu %lu %lu", &a, &b, &c) != 3 || c >= sizeof VMA_NAMES / sizeof VMA_NAMES[0]) return 2;
			r = syscall(SYS_prctl, 0x53564d41, 0, base + a, b, VMA_NAMES[c]);
		} else {
			fprintf(stderr, "bad op %s\n", op);
			return 2;
		}
		if (r == -1 && errno != 0) printf("e %d\n", errno);
		else printf("r %ld\n", r);
	}
	return 0;
}
