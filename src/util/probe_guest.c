/* Host probe, functional check: run a tiny 64-bit CPL-0 guest that executes
 * what a stock Linux kernel needs early (xsetbv, xsave/xrstor, int3 and a
 * software interrupt through the IDT, iretq) and see whether it reaches its
 * final hlt. Hardware virtualization runs it natively; an instruction
 * emulator (PVM runs ring-0 code in KVM's emulator) stops with
 * KVM_EXIT_INTERNAL_ERROR. The run is bounded by a timer signal that kicks
 * KVM_RUN, so a wedged guest cannot hang the caller. */
#include "util/probe.h"

#include "util/error.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Guest physical layout (one 2 MiB slot, identity-mapped by one large page). */
#define G_MEM_SIZE   0x200000u
#define G_GDT	     0x1000u
#define G_IDT	     0x2000u
#define G_PML4	     0x3000u
#define G_PDPT	     0x4000u
#define G_PD	     0x5000u
#define G_XSAVE	     0x6000u /* xsave area, 64-byte aligned, used by the guest code */
#define G_CODE	     0x8000u
#define G_HANDLER    0x9000u /* int3 and int $0x20 land here */
#define G_STACK	     0x1ff000u
#define G_PORT	     0xf0u /* the guest reports progress with `out %al, $0xf0` */
#define G_FAIL_MARK  0xeeu
#define G_LAST_STAGE 6u
#define MAX_EXITS    64

/* Stage numbers the guest writes after each step; names the step that follows. */
static const char *const step_after[] = {
    "the first instruction", "xsetbv", "xrstor", "xsave", "int3 + iretq",
    "int $0x20 + iretq",     "hlt",
};

#define HIDDEN __attribute__((visibility("hidden")))
extern const unsigned char fb_probe_guest_code[] HIDDEN, fb_probe_guest_code_end[] HIDDEN;
extern const unsigned char fb_probe_guest_handler[] HIDDEN, fb_probe_guest_handler_end[] HIDDEN;

__asm__(".pushsection .rodata.fb_probe_guest, \"a\"\n"
	".globl fb_probe_guest_code, fb_probe_guest_code_end\n"
	".globl fb_probe_guest_handler, fb_probe_guest_handler_end\n"
	".hidden fb_probe_guest_code, fb_probe_guest_code_end\n"
	".hidden fb_probe_guest_handler, fb_probe_guest_handler_end\n"
	"fb_probe_guest_code:\n"
	"	mov $1, %al\n"
	"	out %al, $0xf0\n" /* 1: running at CPL 0, long mode */
	"	xor %ecx, %ecx\n"
	"	xor %edx, %edx\n"
	"	mov $3, %eax\n"
	"	xsetbv\n" /* XCR0 = x87|SSE, as fpu init does */
	"	mov $2, %al\n"
	"	out %al, $0xf0\n"
	"	mov $0x6000, %edi\n"
	"	mov $3, %eax\n"
	"	xor %edx, %edx\n"
	"	xrstor (%rdi)\n" /* init state; Debian's 6.1 kernel stops here on PVM */
	"	mov $3, %al\n"
	"	out %al, $0xf0\n"
	"	mov $3, %eax\n"
	"	xsave (%rdi)\n"
	"	mov $4, %al\n"
	"	out %al, $0xf0\n"
	"	xor %ebx, %ebx\n"
	"	int3\n" /* #BP through the IDT, back with iretq */
	"	cmp $0xcafe, %ebx\n"
	"	jne 1f\n"
	"	mov $5, %al\n"
	"	out %al, $0xf0\n"
	"	xor %ebx, %ebx\n"
	"	int $0x20\n" /* software interrupt, back with iretq */
	"	cmp $0xcafe, %ebx\n"
	"	jne 1f\n"
	"	mov $6, %al\n"
	"	out %al, $0xf0\n"
	"	hlt\n"
	"1:	mov $0xee, %al\n"
	"	out %al, $0xf0\n"
	"	hlt\n"
	"fb_probe_guest_code_end:\n"
	"fb_probe_guest_handler:\n"
	"	mov $0xcafe, %ebx\n"
	"	iretq\n"
	"fb_probe_guest_handler_end:\n"
	".popsection\n");

struct guest {
	int vm, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	unsigned stage; /* last progress mark from the guest */
};

static void on_kick(int sig)
{
	(void)sig;
}

static void write_tables(uint8_t *mem)
{
	uint64_t *gdt = (uint64_t *)(mem + G_GDT);
	gdt[1] = 0x00af9b000000ffffull; /* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00cf93000000ffffull; /* 0x10: data, DPL 0 */

	const uint64_t handler = G_HANDLER;
	static const unsigned vectors[] = {3, 0x20};
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint64_t *gate = (uint64_t *)(mem + G_IDT + 16 * vectors[i]);
		gate[0] = (handler & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | /* DPL 0 */
			  ((handler >> 16 & 0xffff) << 48);
		gate[1] = handler >> 32;
	}
	uint64_t *pml4 = (uint64_t *)(mem + G_PML4);
	uint64_t *pdpt = (uint64_t *)(mem + G_PDPT);
	uint64_t *pd = (uint64_t *)(mem + G_PD);
	pml4[0] = G_PDPT | 0x3; /* present, writable */
	pdpt[0] = G_PD | 0x3;
	pd[0] = 0x83; /* 2 MiB page at 0 */
	memcpy(mem + G_HANDLER, fb_probe_guest_handler,
	       (size_t)(fb_probe_guest_handler_end - fb_probe_guest_handler));
}

static int set_cpuid(int kvm_fd, int vcpu)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *cpuid =
		    calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return fb_error_errno("calloc");
		cpuid->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
			free(cpuid);
			if (errno == E2BIG)
				continue;
			return fb_error_errno("KVM_GET_SUPPORTED_CPUID");
		}
		int rc = ioctl(vcpu, KVM_SET_CPUID2, cpuid);
		free(cpuid);
		return rc < 0 ? fb_error_errno("KVM_SET_CPUID2") : 0;
	}
	return fb_error("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, bool code)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = selector;
	seg->limit = 0xffffffff;
	seg->type = type;
	seg->present = 1;
	seg->s = 1;
	seg->g = 1;
	seg->l = code;
	seg->db = !code;
}

static int set_long_mode(int vcpu)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_GET_SREGS");
	set_segment(&sregs.cs, 0x08, 11, true);
	set_segment(&sregs.ds, 0x10, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = G_GDT;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.idt.base = G_IDT;
	sregs.idt.limit = 256 * 16 - 1;
	sregs.cr3 = G_PML4;
	/* PAE | OSFXSR | OSXMMEXCPT | OSXSAVE */
	sregs.cr4 = (1u << 5) | (1u << 9) | (1u << 10) | (1u << 18);
	/* PE | MP | ET | NE | WP | PG */
	sregs.cr0 = 0x80050033u;
	sregs.efer = (1u << 8) | (1u << 10); /* LME | LMA */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_SET_SREGS");

	struct kvm_regs regs = {.rip = G_CODE, .rsp = G_STACK, .rflags = 0x2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fb_error_errno("KVM_SET_REGS");
	return 0;
}

static int map_run(int kvm_fd, struct guest *g)
{
	int size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return fb_error_errno("KVM_GET_VCPU_MMAP_SIZE");
	g->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu, 0);
	if (g->run == MAP_FAILED) {
		g->run = NULL;
		return fb_error_errno("mmap kvm_run");
	}
	g->run_size = (size_t)size;
	return 0;
}

static int setup_guest(int kvm_fd, struct guest *g, const unsigned char *code, size_t code_len)
{
	g->vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (g->vm < 0)
		return fb_error_errno("KVM_CREATE_VM");
	g->mem = mmap(NULL, G_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		return fb_error_errno("mmap guest memory");
	}
	write_tables(g->mem);
	memcpy(g->mem + G_CODE, code, code_len);
	struct kvm_userspace_memory_region region = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = G_MEM_SIZE,
	    .userspace_addr = (uintptr_t)g->mem,
	};
	if (ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fb_error_errno("KVM_SET_USER_MEMORY_REGION");
	g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
	if (g->vcpu < 0)
		return fb_error_errno("KVM_CREATE_VCPU");
	if (map_run(kvm_fd, g) < 0 || set_cpuid(kvm_fd, g->vcpu) < 0)
		return -1;
	return set_long_mode(g->vcpu);
}

static void teardown_guest(struct guest *g)
{
	if (g->run)
		munmap(g->run, g->run_size);
	if (g->vcpu >= 0)
		close(g->vcpu);
	if (g->vm >= 0)
		close(g->vm);
	if (g->mem)
		munmap(g->mem, G_MEM_SIZE);
}

/* A periodic SIGALRM aimed at this thread: each tick makes KVM_RUN return EINTR. */
struct kicker {
	timer_t timer;
	bool installed; /* handler and mask replaced, restore them */
	bool armed;
	struct sigaction old_action;
	sigset_t old_mask;
};

static int kicker_start(struct kicker *k)
{
	struct sigaction sa = {.sa_handler = on_kick}; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, &k->old_action) < 0)
		return fb_error_errno("sigaction SIGALRM");
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, &k->old_mask);
	k->installed = true;
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM};
	sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id; glibc 2.36 lacks the name */
	if (timer_create(CLOCK_MONOTONIC, &sev, &k->timer) < 0)
		return fb_error_errno("timer_create");
	k->armed = true;
	struct itimerspec tick = {.it_value = {0, 10000000}, .it_interval = {0, 10000000}};
	if (timer_settime(k->timer, 0, &tick, NULL) < 0)
		return fb_error_errno("timer_settime");
	return 0;
}

static void kicker_stop(struct kicker *k)
{
	if (k->armed)
		timer_delete(k->timer);
	if (!k->installed)
		return;
	pthread_sigmask(SIG_SETMASK, &k->old_mask, NULL);
	sigaction(SIGALRM, &k->old_action, NULL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *step_name(unsigned stage)
{
	return stage <= G_LAST_STAGE ? step_after[stage] : "?";
}

/* Handle one exit. Returns 1 to keep running, 0 when decided (outcome set). */
static int handle_exit(struct guest *g, enum fb_guest_check *outcome, char *detail, size_t len)
{
	struct kvm_run *run = g->run;
	struct kvm_regs regs = {0};
	ioctl(g->vcpu, KVM_GET_REGS, &regs); /* only for the message */
	unsigned long long off = regs.rip - G_CODE;

	*outcome = FB_GUEST_FAILED;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == G_PORT &&
		    run->io.size == 1) {
			unsigned mark = *((uint8_t *)run + run->io.data_offset);
			if (mark == g->stage + 1 && mark <= G_LAST_STAGE) {
				g->stage = mark;
				return 1;
			}
			snprintf(detail, len, "guest reported failure after %s (mark 0x%x)",
				 step_name(g->stage), mark);
			return 0;
		}
		snprintf(detail, len, "unexpected I/O exit (port 0x%x) at %s", run->io.port,
			 step_name(g->stage));
		return 0;
	case KVM_EXIT_HLT:
		if (g->stage == G_LAST_STAGE) {
			*outcome = FB_GUEST_PASSED;
			snprintf(detail, len,
				 "CPL-0 guest ran xsetbv, xsave/xrstor, int3, int $0x20 and iretq "
				 "to hlt");
			return 0;
		}
		snprintf(detail, len, "early hlt at %s (rip +0x%llx)", step_name(g->stage), off);
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(detail, len, "KVM_EXIT_INTERNAL_ERROR suberror %u%s at %s (rip +0x%llx)",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			     ? " (emulation failure)"
			     : "",
			 step_name(g->stage), off);
		return 0;
	case KVM_EXIT_SHUTDOWN:
		snprintf(detail, len, "KVM_EXIT_SHUTDOWN (triple fault) at %s (rip +0x%llx)",
			 step_name(g->stage), off);
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(detail, len, "KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 0;
	default:
		snprintf(detail, len, "unexpected exit reason %u at %s (rip +0x%llx)",
			 run->exit_reason, step_name(g->stage), off);
		return 0;
	}
}

static enum fb_guest_check run_guest(struct guest *g, unsigned timeout_ms, char *detail, size_t len)
{
	enum fb_guest_check outcome = FB_GUEST_FAILED;
	uint64_t deadline = now_ms() + timeout_ms;
	for (unsigned exits = 0; exits < MAX_EXITS;) {
		if (now_ms() >= deadline) {
			snprintf(detail, len, "no result within %u ms (stuck at %s)", timeout_ms,
				 step_name(g->stage));
			return FB_GUEST_FAILED;
		}
		if (ioctl(g->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fb_error_errno("KVM_RUN");
			snprintf(detail, len, "%s", fb_error_last());
			return FB_GUEST_ERROR;
		}
		exits++;
		if (handle_exit(g, &outcome, detail, len) == 0)
			return outcome;
	}
	snprintf(detail, len, "more than %d exits without a result", MAX_EXITS);
	return FB_GUEST_FAILED;
}

enum fb_guest_check fb_probe_run_guest_code(int kvm_fd, const unsigned char *code, size_t code_len,
					    unsigned timeout_ms, char *detail, size_t detail_len)
{
	struct guest g = {.vm = -1, .vcpu = -1};
	struct kicker kick = {.installed = false, .armed = false};
	enum fb_guest_check outcome;

	if (code_len > G_HANDLER - G_CODE) {
		snprintf(detail, detail_len, "guest code too large (%zu bytes)", code_len);
		return FB_GUEST_ERROR;
	}
	if (setup_guest(kvm_fd, &g, code, code_len) < 0 || kicker_start(&kick) < 0) {
		snprintf(detail, detail_len, "%s", fb_error_last());
		outcome = FB_GUEST_ERROR;
	} else {
		outcome = run_guest(&g, timeout_ms, detail, detail_len);
	}
	kicker_stop(&kick);
	teardown_guest(&g);
	return outcome;
}

enum fb_guest_check fb_probe_ring0_guest(int kvm_fd, unsigned timeout_ms, char *detail,
					 size_t detail_len)
{
	return fb_probe_run_guest_code(kvm_fd, fb_probe_guest_code,
				       (size_t)(fb_probe_guest_code_end - fb_probe_guest_code),
				       timeout_ms, detail, detail_len);
}
