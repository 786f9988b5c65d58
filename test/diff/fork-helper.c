/*
 * Differential-test helper for fork: runs the fork scripts of fork-scripts.ts natively.
 *
 * Input (stdin): scripts, each "script", one operation per line, "end". Process 0 reads
 * them; before the first operation of a script it makes a pipe pair for every process id,
 * so that every process forked later has them all: process 0 sends each operation to the
 * process it names (a length-prefixed line on that process's command pipe) and copies the
 * reply (length-prefixed text on its reply pipe) to stdout. Only process 0 writes stdout.
 *
 * Output, per operation: "> OP" (the operation as read), the lines of its result:
 *   "r 0" / "r OFF" / "e ERRNO"         a syscall's result
 *   "r V0 V1 ..."                       read: the words read, in hex
 *   "f SIG I"                           write or read: signal SIG at page I (the pages
 *                                       before it were done)
 *   "r 0 BITS" / "r 0 F..."             mincore bits, pagemap flag bits 55-63 in hex
 * then, for every live process in id order, "p ID" and its view of the range: per VMA
 * "m START END PERMS OFFSET NAME" and "s START Size Rss Pss Pss_Dirty Shared_Clean
 * Shared_Dirty Private_Clean Private_Dirty Anonymous AnonHugePages Locked VmFlags..."
 * (from its own /proc/self/smaps). After the last operation, "end". Referenced is not
 * printed: see fork.test.ts.
 *
 * "fork-helper thp" prints 1 if MADV_HUGEPAGE on a 2 MiB-aligned anonymous range gives a
 * huge page on the first write (AnonHugePages 2048 kB), else 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define P 4096UL
#define PAGES 1024UL
#define RANGE (PAGES * P)
#define HUGE (2UL << 20)
#define FILE_PAGES 64
#define MAX_PROCS 4

static unsigned long base;
static int myid;
static int memfd = -1;
/* cmd[id]: process 0 to id; rep[id]: id to process 0. */
static int cmd[MAX_PROCS][2], rep[MAX_PROCS][2];
/* The pids of this process's children, by id. */
static pid_t kids[MAX_PROCS];

/* What the current operation prints. */
static char out[1 << 20];
static size_t outlen;
static char text[4 << 20];

static void emit(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	outlen += vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
	va_end(ap);
	if (outlen >= sizeof out) { fprintf(stderr, "output overflow\n"); _exit(2); }
}

static void die(const char *what) {
	perror(what);
	_exit(2);
}

static void xread(int fd, void *buf, size_t len) {
	for (size_t n = 0; n < len;) {
		ssize_t r = read(fd, (char *)buf + n, len - n);
		if (r <= 0) die("pipe read");
		n += r;
	}
}

static void xwrite(int fd, const void *buf, size_t len) {
	for (size_t n = 0; n < len;) {
		ssize_t r = write(fd, (const char *)buf + n, len - n);
		if (r <= 0) die("pipe write");
		n += r;
	}
}

static void send_msg(int fd, const char *buf, uint32_t len) {
	xwrite(fd, &len, sizeof len);
	xwrite(fd, buf, len);
}

/* A message into buf (NUL-terminated); its length. */
static uint32_t recv_msg(int fd, char *buf, size_t size) {
	uint32_t len;
	xread(fd, &len, sizeof len);
	if (len >= size) { fprintf(stderr, "message too long\n"); _exit(2); }
	xread(fd, buf, len);
	buf[len] = 0;
	return len;
}

static void slurp(const char *path) {
	int fd = open(path, O_RDONLY);
	size_t n = 0;
	ssize_t r;
	if (fd < 0) die(path);
	while ((r = read(fd, text + n, sizeof text - 1 - n)) > 0) n += r;
	close(fd);
	text[n] = 0;
}

static const char *const FIELDS[] = {
	"Size", "Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
	"Private_Dirty", "Anonymous", "AnonHugePages", "Locked",
};
#define NFIELDS (sizeof FIELDS / sizeof FIELDS[0])

/* This process's view of the range: "p ID", then "m" and "s" lines per VMA. */
static void state(void) {
	unsigned long vals[NFIELDS], start = 0;
	int in = 0;
	emit("p %d\n", myid);
	slurp("/proc/self/smaps");
	for (char *line = text, *next; *line; line = next) {
		unsigned long s, e, off;
		char perms[5];
		int name = 0;
		next = strchr(line, '\n');
		if (next) *next++ = 0;
		else next = line + strlen(line);
		if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %n", &s, &e, perms, &off, &name) == 4) {
			in = !(e <= base || s >= base + RANGE);
			if (!in) continue;
			start = s < base ? 0 : s - base;
			if (e > base + RANGE) e = base + RANGE;
			emit("m %lu %lu %s %lx %s\n", start, e - base, perms, off, name ? line + name : "");
			memset(vals, 0, sizeof vals);
			continue;
		}
		if (!in) continue;
		if (!strncmp(line, "VmFlags:", 8)) {
			emit("s %lu", start);
			for (unsigned i = 0; i < NFIELDS; i++) emit(" %lu", vals[i]);
			emit(" %s\n", line + 9);
			in = 0;
			continue;
		}
		for (unsigned i = 0; i < NFIELDS; i++) {
			size_t n = strlen(FIELDS[i]);
			if (!strncmp(line, FIELDS[i], n) && line[n] == ':') vals[i] = strtoul(line + n + 1, NULL, 10);
		}
	}
}

static sigjmp_buf fault_jmp;

static void on_fault(int sig) {
	siglongjmp(fault_jmp, sig);
}

/* write/read: one word per page, catching SIGSEGV and SIGBUS. */
static void touch(int write, unsigned long off, unsigned long pages, unsigned long val) {
	volatile unsigned long i = 0;
	int sig = sigsetjmp(fault_jmp, 1);
	if (sig != 0) {
		emit("%sf %d %lu\n", write ? "" : " ", sig, (unsigned long)i);
		return;
	}
	if (!write) emit("r");
	for (i = 0; i < pages; i++) {
		volatile uint32_t *w = (volatile uint32_t *)(base + off + i * P);
		if (write) *w = (uint32_t)(val + i);
		else emit(" %x", *w);
	}
	emit(write ? "r 0\n" : "\n");
}

static void result(long r) {
	if (r == -1) emit("e %d\n", errno);
	else emit("r %ld\n", r);
}

static void execute(const char *line);

/* A forked process: runs the lines process 0 sends it until "exit". */
static void serve(int id) {
	static char line[256];
	myid = id;
	memset(kids, 0, sizeof kids);
	for (;;) {
		recv_msg(cmd[id][0], line, sizeof line);
		if (!strcmp(line, "exit")) _exit(0);
		outlen = 0;
		execute(line);
		send_msg(rep[id][1], out, outlen);
	}
}

/* "fork W N": this process (W) forks process N. */
static void do_fork(int id) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid == -1) { result(-1); return; }
	if (pid == 0) serve(id);
	kids[id] = pid;
	emit("r 0\n");
}

/*
 * Run one command in this process: an operation of the script, "fork W N", "reap N" (wait
 * for child N) or "state". Process 0 keeps the tree (main).
 */
static void execute(const char *line) {
	char op[16];
	long a[7] = { 0 };
	sscanf(line, "%15s %ld %ld %ld %ld %ld %ld %ld", op, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6]);
	void *at = (void *)(base + a[1]);
	errno = 0;
	if (!strcmp(op, "fork")) {
		do_fork((int)a[1]);
	} else if (!strcmp(op, "reap")) {
		int status;
		pid_t r = waitpid(kids[a[0]], &status, 0);
		if (r == -1) result(-1);
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) emit("r 0\n");
		else emit("e status %d\n", status);
	} else if (!strcmp(op, "mmap")) {
		void *p = mmap(at, a[2], (int)a[3], (int)a[4], -1, 0);
		result(p == MAP_FAILED ? -1 : (long)((unsigned long)p - base));
	} else if (!strcmp(op, "mmapf")) {
		void *p = mmap(at, a[2], (int)a[3], (int)a[4], memfd, a[5]);
		result(p == MAP_FAILED ? -1 : (long)((unsigned long)p - base));
	} else if (!strcmp(op, "munmap")) result(munmap(at, a[2]));
	else if (!strcmp(op, "mprotect")) result(mprotect(at, a[2], (int)a[3]));
	else if (!strcmp(op, "madvise")) result(madvise(at, a[2], (int)a[3]));
	else if (!strcmp(op, "mlock")) result(mlock(at, a[2]));
	else if (!strcmp(op, "munlock")) result(munlock(at, a[2]));
	else if (!strcmp(op, "write")) touch(1, a[1], a[2], a[3]);
	else if (!strcmp(op, "read")) touch(0, a[1], a[2], 0);
	else if (!strcmp(op, "mincore")) {
		static unsigned char vec[PAGES + 1];
		if (mincore(at, a[2], vec) == -1) { result(-1); return; }
		emit("r 0 ");
		for (long i = 0; i < (a[2] + (long)P - 1) / (long)P; i++) emit("%c", '0' + (vec[i] & 1));
		emit("\n");
	} else if (!strcmp(op, "pagemap")) {
		static uint64_t ents[PAGES];
		int fd = open("/proc/self/pagemap", O_RDONLY);
		if (fd < 0 || pread(fd, ents, a[2] * 8, (base + a[1]) / P * 8) != a[2] * 8) die("pagemap");
		close(fd);
		emit("r 0");
		for (long i = 0; i < a[2]; i++) emit(" %x", (unsigned)(ents[i] >> 55));
		emit("\n");
	} else if (!strcmp(op, "fwrite")) {
		uint32_t v = (uint32_t)a[1];
		result(pwrite(memfd, &v, sizeof v, a[0]));
	} else if (!strcmp(op, "state")) state();
	else {
		fprintf(stderr, "bad operation: %s\n", line);
		_exit(2);
	}
}

/* Process 0's bookkeeping of the tree. */
static int parent_of[MAX_PROCS], live[MAX_PROCS], nprocs;

/* Run line in process id: here, or there through its pipes; the reply goes to stdout if print. */
static void run_in(int id, const char *line, int print) {
	outlen = 0;
	if (id == 0) execute(line);
	else {
		send_msg(cmd[id][1], line, strlen(line));
		recv_msg(rep[id][0], out, sizeof out);
		outlen = strlen(out);
	}
	if (print) fwrite(out, 1, outlen, stdout);
}

/* id exits; its parent reaps it (the reaper's result printed if print). */
static void end_process(int id, int print) {
	char line[64];
	send_msg(cmd[id][1], "exit", 4);
	snprintf(line, sizeof line, "reap %d", id);
	run_in(parent_of[id], line, print);
	live[id] = 0;
}

static void new_script(void) {
	if (base == 0) {
		/*
		 * A 2 MiB-aligned hole of RANGE bytes between two guard pages, with 64 MiB free
		 * above, where mappings made without an address go (in ptlab, the userland's own).
		 */
		unsigned long total = HUGE + P + RANGE + P + (64UL << 20);
		char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) die("reserve");
		base = ((unsigned long)p + P + HUGE - 1) & ~(HUGE - 1);
		if (base - P > (unsigned long)p) munmap(p, base - P - (unsigned long)p);
		munmap((void *)(base + RANGE + P), (unsigned long)p + total - (base + RANGE + P));
	}
	munmap((void *)base, RANGE);
	memfd = memfd_create("fork", 0);
	if (memfd < 0 || ftruncate(memfd, FILE_PAGES * P)) die("memfd");
	for (int id = 1; id < MAX_PROCS; id++)
		if (pipe(cmd[id]) || pipe(rep[id])) die("pipe");
	nprocs = 1;
	live[0] = 1;
}

static void end_script(void) {
	/* Children first: each exits when none of its own is live. */
	for (int id = nprocs - 1; id > 0; id--) if (live[id]) end_process(id, 0);
	fflush(stdout);
	for (int id = 1; id < MAX_PROCS; id++) {
		close(cmd[id][0]); close(cmd[id][1]); close(rep[id][0]); close(rep[id][1]);
	}
	close(memfd);
	printf("end\n");
	fflush(stdout);
}

static int thp_probe(void) {
	char *p = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	base = ((unsigned long)p + HUGE - 1) & ~(HUGE - 1);
	if (madvise((void *)base, HUGE, MADV_HUGEPAGE)) { printf("0\n"); return 0; }
	*(volatile char *)base = 1;
	state();
	char *a = strstr(out, "\ns ");
	unsigned long v[NFIELDS] = { 0 }, start;
	/* Fields after START: AnonHugePages is the 10th. */
	if (a && sscanf(a + 3, "%lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", &start, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 11)
		printf("%d\n", v[9] == 2048);
	else printf("0\n");
	return 0;
}

int main(int argc, char **argv) {
	static char line[256];
	static char inbuf[1 << 16], outbuf[1 << 16];
	if (argc > 1 && !strcmp(argv[1], "thp")) return thp_probe();
	setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	struct sigaction sa = { .sa_handler = on_fault };
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	while (fgets(line, sizeof line, stdin)) {
		char op[16];
		int who;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%15s", op) != 1) continue;
		if (!strcmp(op, "script")) { new_script(); continue; }
		if (!strcmp(op, "end")) { end_script(); continue; }
		printf("> %s\n", line);
		if (!strcmp(op, "fwrite")) who = 0;
		else if (sscanf(line, "%*s %d", &who) != 1 || who < 0 || who >= nprocs || !live[who]) {
			fprintf(stderr, "bad process in: %s\n", line);
			return 2;
		}
		if (!strcmp(op, "exit")) end_process(who, 1);
		else if (!strcmp(op, "fork")) {
			char forkline[64];
			snprintf(forkline, sizeof forkline, "fork %d %d", who, nprocs);
			run_in(who, forkline, 1);
			parent_of[nprocs] = who;
			live[nprocs++] = 1;
		} else run_in(who, line, 1);
		for (int id = 0; id < nprocs; id++) if (live[id]) run_in(id, "state", 1);
	}
	return 0;
}
