/* Fork micro-benchmark with the CPL-3 micro-guest template: time to fork a
 * VM (KVM_CREATE_VM, irqchip, PIT, CoW memory mapping + memslot, vCPU,
 * CPUID, state restore) over 200 runs, and the memory each live fork adds
 * (RSS and PSS from /proc/self/smaps_rollup) after running its guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "microguest.h"
#include "rollup.h"
#include "util/error.h"

#define RUNS	   200
#define LIVE_FORKS 20

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int run_fork(struct mg_vm *vm, uint32_t expected)
{
	uint32_t c;
	if (mg_run_once(vm, &c) < 0)
		return -1;
	if (c != expected)
		return fb_error("fork counter %u, expected %u", c, expected);
	return 0;
}

/* Only the state restore (VM devices + vCPU) into a ready VM. */
static int time_restore(const struct fb_template *t)
{
	static double us[RUNS];
	for (int i = 0; i < RUNS; i++) {
		struct mg_vm vm;
		if (mg_vm_create(&vm, NULL, fb_template_cpuid(t)) < 0)
			return -1;
		double t0 = now_us();
		if (fb_vm_state_restore(vm.vm_fd, fb_template_vm(t)) < 0 ||
		    fb_vcpu_state_restore(vm.vcpu_fd, fb_template_vcpu(t, 0)) < 0)
			return -1;
		us[i] = now_us() - t0;
		mg_vm_destroy(&vm);
	}
	qsort(us, RUNS, sizeof(double), cmp_double);
	printf("| state restore only (VM devices + vCPU)                | %8.0f | %8.0f |\n",
	       us[RUNS / 2], us[RUNS * 99 / 100]);
	return 0;
}

static int time_forks(const struct fb_template *t)
{
	static double fork_us[RUNS], total_us[RUNS];
	for (int i = 0; i < RUNS; i++) {
		struct mg_vm vm;
		double t0 = now_us();
		if (mg_fork(&vm, t) < 0)
			return -1;
		double t1 = now_us();
		if (run_fork(&vm, 101) < 0)
			return -1;
		mg_vm_destroy(&vm);
		fork_us[i] = t1 - t0;
		total_us[i] = now_us() - t0;
	}
	qsort(fork_us, RUNS, sizeof(double), cmp_double);
	qsort(total_us, RUNS, sizeof(double), cmp_double);
	printf("| fork (create VM + devices + memslot + vCPU + restore) | %8.0f | %8.0f |\n",
	       fork_us[RUNS / 2], fork_us[RUNS * 99 / 100]);
	printf("| fork + first guest exit + teardown                    | %8.0f | %8.0f |\n",
	       total_us[RUNS / 2], total_us[RUNS * 99 / 100]);
	return 0;
}

static int measure_memory(const struct fb_template *t)
{
	static struct mg_vm vms[LIVE_FORKS];
	struct bench_rollup m0 = bench_read_rollup();
	for (int i = 0; i < LIVE_FORKS; i++)
		if (mg_fork(&vms[i], t) < 0 || run_fork(&vms[i], 101) < 0)
			return -1;
	struct bench_rollup m1 = bench_read_rollup();
	for (int i = 0; i < LIVE_FORKS; i++)
		mg_vm_destroy(&vms[i]);
	printf("\nmemory per live fork (%d forks, guest ran 1 iteration): RSS +%ld KiB, "
	       "PSS +%ld KiB\n",
	       LIVE_FORKS, (m1.rss_kb - m0.rss_kb) / LIVE_FORKS,
	       (m1.pss_kb - m0.pss_kb) / LIVE_FORKS);
	return 0;
}

int main(void)
{
	char path[] = "/tmp/fb-fork-bench.XXXXXX";
	int fd = mkstemp(path);
	struct fb_template *t = NULL;
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	int r = 1;
	if (mg_write_template(path, 100, NULL) < 0 || fb_template_open(path, &t) < 0)
		goto out;
	printf("forkbox fork bench: micro-guest template, %u KiB guest memory, %d runs\n\n",
	       MG_MEM_SIZE / 1024, RUNS);
	printf("| step                                                  | p50 (us) | p99 (us) |\n");
	printf("| ----------------------------------------------------- | -------- | -------- |\n");
	if (time_forks(t) < 0 || time_restore(t) < 0 || measure_memory(t) < 0)
		goto out;
	r = 0;
out:
	if (r)
		fprintf(stderr, "fork_bench: %s\n", fb_error_last());
	fb_template_close(t);
	unlink(path);
	return r;
}
