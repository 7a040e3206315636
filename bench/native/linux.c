/*
 * linux.c: the workloads of bench/kernel.bench.ts done by the Linux kernel
 * of this machine, for `npm run bench` to set beside ours.
 *
 *   usage: linux [--quick]
 *   prints one line per workload: NAME MEDIAN_NS_PER_OPERATION REPS
 *
 * Each workload runs once to warm up, then REPS times; the median is
 * printed. Big buffers are touched once before timing (memory untouched for
 * a while is slow to fault back in on virtual machines).
 * Build: cc -O2 -o linux linux.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define MIB (1024L * 1024L)

static long reps = 7;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void *map_anon(long bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void touch(char *p, long bytes)
{
	for (long o = 0; o < bytes; o += PAGE)
		p[o] = 1;
}

/* run: warm up once, time `reps` runs of fn, print the median per op */
static void run(const char *name, double (*fn)(void *), void *arg, double ops)
{
	double t[64];
	fn(arg);
	for (long i = 0; i < reps; i++)
		t[i] = fn(arg);
	qsort(t, reps, sizeof t[0], cmp_double);
	printf("%s %.1f %ld\n", name, t[reps / 2] / ops, reps);
	fflush(stdout);
}

/* ---- zero-fill write fault ------------------------------------------- */

static double zero_fill(void *arg)
{
	long bytes = *(long *)arg;
	char *p = map_anon(bytes);
	double s = now_ns();
	touch(p, bytes);
	double e = now_ns();
	munmap(p, bytes);
	return e - s;
}

/* ---- copy-on-write fault in a forked child ---------------------------- */

struct cow {
	char *area;
	long bytes;
};

static double cow_fault(void *arg)
{
	struct cow *c = arg;
	int fd[2];
	double took = 0;
	if (pipe(fd) != 0)
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		double s = now_ns();
		touch(c->area, c->bytes);
		double e = now_ns() - s;
		if (write(fd[1], &e, sizeof e) != sizeof e)
			_exit(1);
		_exit(0);
	}
	if (read(fd[0], &took, sizeof took) != sizeof took)
		exit(1);
	waitpid(pid, NULL, 0);
	close(fd[0]);
	close(fd[1]);
	return took;
}

/* ---- fork + exit ------------------------------------------------------ */

static double fork_exit(void *arg)
{
	(void)arg;
	double s = now_ns();
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return now_ns() - s;
}

/* many_entries: n mappings of `pages` resident pages, a one-page hole after each */
static char *many_entries(long n, long pages)
{
	long stride = (pages + 1) * PAGE;
	char *p = map_anon(n * stride);
	for (long i = 0; i < n; i++) {
		touch(p + i * stride, pages * PAGE);
		munmap(p + i * stride + pages * PAGE, PAGE);
	}
	return p;
}

/* ---- mmap + munmap, mprotect split and merge --------------------------- */

static double mmap_munmap(void *arg)
{
	long n = *(long *)arg;
	double s = now_ns();
	for (long i = 0; i < n; i++) {
		void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		munmap(p, PAGE);
	}
	return now_ns() - s;
}

struct split {
	char *area;
	long n;
};

static double mprotect_split_merge(void *arg)
{
	struct split *sp = arg;
	char *mid = sp->area + 512 * PAGE;
	double s = now_ns();
	for (long i = 0; i < sp->n; i++) {
		mprotect(mid, PAGE, PROT_READ);
		mprotect(mid, PAGE, PROT_READ | PROT_WRITE);
	}
	return now_ns() - s;
}

int main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	reps = quick ? 5 : 9;

	long zbytes = 512 * MIB;
	run("zero-fill", zero_fill, &zbytes, zbytes / PAGE);

	struct cow c = { map_anon(256 * MIB), 256 * MIB };
	touch(c.area, c.bytes);
	run("cow-fault", cow_fault, &c, c.bytes / PAGE);
	munmap(c.area, c.bytes);

	char *small = map_anon(64 * MIB);
	touch(small, 64 * MIB);
	run("fork-exit-64m", fork_exit, NULL, 1);
	munmap(small, 64 * MIB);

	char *large = map_anon(1024 * MIB);
	touch(large, 1024 * MIB);
	run("fork-exit-1g", fork_exit, NULL, 1);
	munmap(large, 1024 * MIB);

	char *many = many_entries(10000, 1);
	run("fork-exit-10k-entries", fork_exit, NULL, 1);
	munmap(many, 10000 * 2 * PAGE);

	char *thousand = many_entries(1000, 16);
	run("fork-exit-1k-entries-64m", fork_exit, NULL, 1);
	munmap(thousand, 1000 * 17 * PAGE);

	long n = quick ? 20000 : 100000;
	run("mmap-munmap", mmap_munmap, &n, n);

	struct split sp = { map_anon(1024 * PAGE), n };
	touch(sp.area, 1024 * PAGE);
	run("mprotect-split-merge", mprotect_split_merge, &sp, n);
	return 0;
}
