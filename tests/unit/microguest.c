/* The CPL-3 micro-guest used by the snapshot tests and the fork bench. */
#include "microguest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"
#include "vmm/snapshot/cpuid.h"

#define PML4_GPA 0x1000u
#define PDPT_GPA 0x2000u
#define PD_GPA	 0x3000u
#define GDT_GPA	 0x500u
#define TSS_GPA	 0x700u
#define CODE_GPA 0x10000u
#define PTE_USER 0x7u  /* present, writable, user */
#define PDE_2M	 0x87u /* present, writable, user, 2 MiB page */

#define SEL_USER_DATA 0x1b /* GDT index 3, RPL 3 */
#define SEL_USER_CODE 0x23 /* GDT index 4, RPL 3 */
#define SEL_TSS	      0x28

static const uint8_t program[] = {
    0x48, 0x8b,	   0x04, 0x25, 0x00, 0x00, 0x02, 0x00, /* mov rax, [0x20000] */
    0x48, 0xff,	   0xc0,			       /* inc rax */
    0x48, 0x89,	   0x04, 0x25, 0x00, 0x00, 0x02, 0x00, /* mov [0x20000], rax */
    0x49, 0x83,	   0xc4, 0x03,			       /* add r12, 3 */
    0x66, 0x0f,	   0xd4, 0xc1,			       /* paddq xmm0, xmm1 */
    0x66, 0x48,	   0x0f, 0x7e, 0xc1,		       /* movq rcx, xmm0 */
    0xe7, MG_PORT,				       /* out MG_PORT, eax */
    0xeb, 0xdc,					       /* jmp back 36 bytes */
};

/* Touch MG_TOUCH_PAGES pages from MG_TOUCH_GPA, one byte each, then OUT
 * (the benchmarks' cost per page). 0x88 writes, 0x8a reads. */
#define TOUCH_PROGRAM(op)                                                                          \
	{                                                                                          \
		0x48, 0xc7, 0xc7, 0x00, 0x10, 0x02, 0x00,     /* mov rdi, MG_TOUCH_GPA */          \
		    0x48, 0xc7, 0xc1, 0x00, 0x01, 0x00, 0x00, /* mov rcx, MG_TOUCH_PAGES */        \
		    op, 0x07,				      /* mov [rdi], al / al, [rdi] */      \
		    0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* add rdi, 4096 */                  \
		    0x48, 0xff, 0xc9,			      /* dec rcx */                        \
		    0x75, 0xf2,				      /* jnz back 14 bytes */              \
		    0xe7, MG_PORT,			      /* out MG_PORT, eax */               \
		    0xeb, 0xfe,				      /* jmp $ */                          \
	}
static const uint8_t writer[] = TOUCH_PROGRAM(0x88);
static const uint8_t reader[] = TOUCH_PROGRAM(0x8a);

static const uint64_t gdt[] = {
    0,
    0x00af9a000000ffffull,			       /* kernel code 64 */
    0x00cf92000000ffffull,			       /* kernel data */
    0x00cff2000000ffffull,			       /* user data, DPL 3 */
    0x00affa000000ffffull,			       /* user code 64, DPL 3 */
    0x00008b0000000067ull | ((uint64_t)TSS_GPA << 16), /* busy 64-bit TSS */
    0,
};

static int kvm_fd = -1;
static struct kvm_cpuid2 *host_cpuid;
static struct fb_vcpu_caps host_caps;
static int probe_failed;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0 || fb_cpuid_build(kvm_fd, &host_cpuid) < 0 ||
	    fb_vcpu_caps_probe(kvm_fd, &host_caps) < 0)
		probe_failed = 1;
}

int mg_kvm_fd(void)
{
	pthread_once(&probe_once, probe);
	if (probe_failed)
		return fb_error("/dev/kvm unusable (open, CPUID or caps probe failed)");
	return kvm_fd;
}

const struct kvm_cpuid2 *mg_host_cpuid(void)
{
	return mg_kvm_fd() < 0 ? NULL : host_cpuid;
}

const struct fb_vcpu_caps *mg_caps(void)
{
	return mg_kvm_fd() < 0 ? NULL : &host_caps;
}

static int vm_ioctl(int fd, unsigned long req, unsigned long arg, const char *name)
{
	if (ioctl(fd, req, arg) < 0)
		return fb_error_errno("%s", name);
	return 0;
}

#define IOCTL(fd, req, arg) vm_ioctl(fd, req, (unsigned long)(arg), #req)

static int create_devices(struct mg_vm *vm)
{
	struct kvm_pit_config pit = {.flags = 0};
	if (IOCTL(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    IOCTL(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return -1;
	struct kvm_userspace_memory_region slot = {.slot = 0,
						   .guest_phys_addr = 0,
						   .memory_size = MG_MEM_SIZE,
						   .userspace_addr = (uintptr_t)vm->mem};
	return IOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
}

static int create_vcpu(struct mg_vm *vm, const struct kvm_cpuid2 *cpuid)
{
	int kvm = mg_kvm_fd();
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return fb_error_errno("KVM_CREATE_VCPU");
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		return fb_error_errno("KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return fb_error_errno("mmap kvm_run");
	}
	return IOCTL(vm->vcpu_fd, KVM_SET_CPUID2, cpuid);
}

int mg_vm_create(struct mg_vm *vm, void *mem, const struct kvm_cpuid2 *cpuid)
{
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->vcpu_fd = -1;
	int kvm = mg_kvm_fd();
	if (kvm < 0)
		return -1;
	vm->mem = mem;
	if (!mem) {
		vm->mem = mmap(NULL, MG_MEM_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (vm->mem == MAP_FAILED) {
			vm->mem = NULL;
			return fb_error_errno("mmap guest memory");
		}
		vm->own_mem = 1;
	}
	vm->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return fb_error_errno("KVM_CREATE_VM");
	if (create_devices(vm) < 0 || create_vcpu(vm, cpuid) < 0)
		return -1;
	return 0;
}

void mg_vm_destroy(struct mg_vm *vm)
{
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->mem && vm->own_mem)
		munmap(vm->mem, MG_MEM_SIZE);
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->vcpu_fd = -1;
}

static void write_memory(uint8_t *mem)
{
	uint64_t e;
	e = PDPT_GPA | PTE_USER;
	memcpy(mem + PML4_GPA, &e, 8);
	e = PD_GPA | PTE_USER;
	memcpy(mem + PDPT_GPA, &e, 8);
	for (uint64_t i = 0; i < MG_MEM_SIZE / (2u << 20); i++) {
		e = (i << 21) | PDE_2M;
		memcpy(mem + PD_GPA + i * 8, &e, 8);
	}
	memcpy(mem + GDT_GPA, gdt, sizeof(gdt));
	memcpy(mem + CODE_GPA, program, sizeof(program));
	memcpy(mem + MG_WRITER_GPA, writer, sizeof(writer));
	memcpy(mem + MG_READER_GPA, reader, sizeof(reader));
	/* Template data for the touch programs (a fork copies or shares it). */
	memset(mem + MG_TOUCH_GPA, 0x5a, (size_t)MG_TOUCH_PAGES * 4096);
}

static void set_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	*s = (struct kvm_segment){.base = 0,
				  .limit = 0xffffffff,
				  .selector = sel,
				  .type = type,
				  .present = 1,
				  .dpl = 3,
				  .db = !code,
				  .s = 1,
				  .l = code,
				  .g = 1};
}

static int set_sregs(struct mg_vm *vm)
{
	struct kvm_sregs s;
	if (IOCTL(vm->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cr0 = 0x80010033; /* PG WP NE ET MP PE */
	s.cr3 = PML4_GPA;
	s.cr4 = 0x620;	/* OSXMMEXCPT OSFXSR PAE */
	s.efer = 0x500; /* LMA LME */
	set_segment(&s.cs, SEL_USER_CODE, 11, 1);
	set_segment(&s.ds, SEL_USER_DATA, 3, 0);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.tr = (struct kvm_segment){
	    .base = TSS_GPA, .limit = 0x67, .selector = SEL_TSS, .type = 11, .present = 1};
	s.ldt = (struct kvm_segment){.type = 2, .present = 1, .unusable = 1};
	s.gdt.base = GDT_GPA;
	s.gdt.limit = sizeof(gdt) - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	return IOCTL(vm->vcpu_fd, KVM_SET_SREGS, &s);
}

/* xmm1 = 1 through the XSAVE area: KVM_SET_FPU would leave the SSE bit of
 * XSTATE_BV clear, and XRSTOR would then load SSE state as all zeros. */
static int set_xmm1(struct mg_vm *vm)
{
	const struct fb_vcpu_caps *caps = mg_caps();
	uint8_t *xs = calloc(1, FB_XSAVE_MAX_SIZE);
	if (!xs)
		return fb_error("out of memory");
	int r = caps->use_xsave2 ? IOCTL(vm->vcpu_fd, KVM_GET_XSAVE2, xs)
				 : IOCTL(vm->vcpu_fd, KVM_GET_XSAVE, xs);
	if (r == 0) {
		uint32_t mxcsr = 0x1f80;
		uint64_t one = 1, bv;
		memcpy(xs + 24, &mxcsr, 4);	/* MXCSR */
		memcpy(xs + 160 + 16, &one, 8); /* XMM1 low quadword */
		memcpy(&bv, xs + 512, 8);
		bv |= 3; /* x87 | SSE */
		memcpy(xs + 512, &bv, 8);
		r = IOCTL(vm->vcpu_fd, KVM_SET_XSAVE, xs);
	}
	free(xs);
	return r;
}

int mg_vm_boot(struct mg_vm *vm)
{
	write_memory(vm->mem);
	if (set_sregs(vm) < 0)
		return -1;
	struct kvm_regs r = {.rip = CODE_GPA, .rsp = 0x30000, .rflags = 0x3002}; /* IOPL 3 */
	if (IOCTL(vm->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -1;
	return set_xmm1(vm);
}

static int unexpected_exit(const struct kvm_run *run)
{
	if (run->exit_reason == KVM_EXIT_IO)
		return fb_error("guest did I/O on port 0x%x", run->io.port);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		return fb_error("KVM internal error, suberror %u", run->internal.suberror);
	return fb_error("unexpected KVM exit reason %u", run->exit_reason);
}

int mg_run_once(struct mg_vm *vm, uint32_t *counter)
{
	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fb_error_errno("KVM_RUN");
		}
		const struct kvm_run *run = vm->run;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == MG_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 &&
		    run->io.data_offset + 4 <= vm->run_size) {
			memcpy(counter, (const uint8_t *)run + run->io.data_offset, 4);
			return 0;
		}
		return unexpected_exit(run);
	}
}

int mg_snapshot(struct mg_vm *vm, struct fb_vcpu_state *vcpu, struct fb_vm_state *vmst)
{
	if (fb_vcpu_complete_pending_io(vm->vcpu_fd, vm->run) < 0 ||
	    fb_vcpu_state_save(vm->vcpu_fd, mg_caps(), 1, vcpu) < 0 ||
	    fb_vm_state_save(vm->vm_fd, FB_VM_HAS_IRQCHIP | FB_VM_HAS_PIT, vmst) < 0)
		return fb_error_prefix("snapshot");
	return 0;
}

static int run_iterations(struct mg_vm *vm, unsigned iterations)
{
	for (unsigned i = 1; i <= iterations; i++) {
		uint32_t c;
		if (mg_run_once(vm, &c) < 0)
			return -1;
		if (c != i)
			return fb_error("micro-guest counter %u, expected %u", c, i);
	}
	return 0;
}

static int write_parts(const char *path, struct mg_vm *vm, const struct kvm_cpuid2 *cpuid,
		       const struct fb_vcpu_state *vcpu, const struct fb_vm_state *vmst,
		       const struct fb_template_blob *devices, unsigned nr_devices)
{
	struct fb_template_kv meta[] = {{FB_META_KERNEL_HASH, "micro-guest"},
					{FB_META_CMDLINE, "none"},
					{FB_META_VERSION, "test"}};
	struct fb_template_parts parts = {.cpuid = cpuid,
					  .vcpus = vcpu,
					  .nr_vcpus = 1,
					  .vm = vmst,
					  .devices = devices,
					  .nr_devices = nr_devices,
					  .meta = meta,
					  .nr_meta = 3,
					  .mem = vm->mem,
					  .mem_size = MG_MEM_SIZE};
	return fb_template_write(path, &parts, NULL, NULL);
}

int mg_write_template_devices(const char *path, unsigned iterations, const struct kvm_cpuid2 *cpuid,
			      const struct fb_template_blob *devices, unsigned nr_devices)
{
	struct mg_vm vm = {.vm_fd = -1, .vcpu_fd = -1};
	struct fb_vm_state vmst;
	struct fb_vcpu_state *vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu)
		return fb_error("out of memory");
	if (!cpuid)
		cpuid = mg_host_cpuid();
	int r = -1;
	if (cpuid && mg_vm_create(&vm, NULL, mg_host_cpuid()) == 0 && mg_vm_boot(&vm) == 0 &&
	    run_iterations(&vm, iterations) == 0 && mg_snapshot(&vm, vcpu, &vmst) == 0 &&
	    write_parts(path, &vm, cpuid, vcpu, &vmst, devices, nr_devices) == 0)
		r = 0;
	mg_vm_destroy(&vm);
	free(vcpu);
	return r;
}

int mg_write_template(const char *path, unsigned iterations, const struct kvm_cpuid2 *cpuid)
{
	static const char serial[] = "serial-state";
	struct fb_template_blob dev = {.name = "serial", .data = serial, .size = sizeof(serial)};
	return mg_write_template_devices(path, iterations, cpuid, &dev, 1);
}

int mg_fork(struct mg_vm *vm, const struct fb_template *t)
{
	void *mem;
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = vm->vcpu_fd = -1;
	if (fb_template_mem_size(t) != MG_MEM_SIZE)
		return fb_error("template memory is not the micro-guest's");
	if (fb_template_map_memory(t, &mem) < 0)
		return -1;
	if (mg_vm_create(vm, mem, fb_template_cpuid(t)) < 0) {
		mg_vm_destroy(vm);
		munmap(mem, MG_MEM_SIZE);
		return -1;
	}
	vm->own_mem = 1; /* the fork's CoW mapping goes with it */
	/* VM devices first, then the vCPU, as src/vmm/fork.c does (the vCPU
	 * state test restores in the other order). */
	if (fb_vm_state_restore(vm->vm_fd, fb_template_vm(t)) < 0 ||
	    fb_vcpu_state_restore(vm->vcpu_fd, fb_template_vcpu(t, 0)) < 0)
		return fb_error_prefix("fork");
	return 0;
}
