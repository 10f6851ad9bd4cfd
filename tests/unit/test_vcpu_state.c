/* vCPU/VM state capture and restore with the CPL-3 micro-guest, and the
 * strictness of the state blob parsers (random corruption never crashes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "microguest.h"
#include "util/error.h"
#include "vmm/snapshot/cpuid.h"

struct saved {
	struct mg_vm vm;
	struct fb_vcpu_state *vcpu;
	struct fb_vm_state vmst;
};

static void run_expect(struct mg_vm *vm, uint32_t expected)
{
	uint32_t c = 0;
	if (mg_run_once(vm, &c) < 0)
		fail_msg("run: %s", fb_error_last());
	assert_int_equal(c, expected);
}

/* A guest run for 1000 iterations and snapshotted. */
static int setup(void **state)
{
	struct saved *s = calloc(1, sizeof(*s));
	s->vcpu = calloc(1, sizeof(*s->vcpu));
	if (mg_vm_create(&s->vm, NULL, mg_host_cpuid()) < 0 || mg_vm_boot(&s->vm) < 0)
		fail_msg("micro-guest: %s", fb_error_last());
	for (uint32_t i = 1; i <= 1000; i++)
		run_expect(&s->vm, i);
	if (mg_snapshot(&s->vm, s->vcpu, &s->vmst) < 0)
		fail_msg("%s", fb_error_last());
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct saved *s = *state;
	mg_vm_destroy(&s->vm);
	free(s->vcpu);
	free(s);
	return 0;
}

static uint64_t msr_value(const struct fb_vcpu_state *st, uint32_t index, int *found)
{
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index == index) {
			*found = 1;
			return st->msrs[i].data;
		}
	*found = 0;
	return 0;
}

static void test_saved_state_is_complete(void **state)
{
	struct saved *s = *state;
	int found;
	assert_int_equal(s->vcpu->regs.r12, 3 * 1000);
	assert_int_equal(s->vcpu->regs.rcx, 1000); /* xmm0 copy: XSAVE state advanced */
	assert_int_equal(s->vcpu->sregs.cs.dpl, 3);
	assert_true(s->vcpu->flags & FB_VCPU_HAS_LAPIC);
	assert_true(s->vcpu->xsave_size >= 4096);
	assert_true(msr_value(s->vcpu, 0x10, &found) > 0); /* TSC */
	assert_true(found);
	assert_int_equal(s->vmst.flags, FB_VM_HAS_IRQCHIP | FB_VM_HAS_PIT);
}

/* A new VM over a copy of the memory continues exactly at the snapshot. */
static void test_restore_continues(void **state)
{
	struct saved *s = *state;
	struct mg_vm b;
	if (mg_vm_create(&b, NULL, mg_host_cpuid()) < 0)
		fail_msg("%s", fb_error_last());
	memcpy(b.mem, s->vm.mem, MG_MEM_SIZE);
	if (fb_vcpu_state_restore(b.vcpu_fd, s->vcpu) < 0 ||
	    fb_vm_state_restore(b.vm_fd, &s->vmst) < 0)
		fail_msg("restore: %s", fb_error_last());

	struct kvm_regs regs;
	assert_int_equal(ioctl(b.vcpu_fd, KVM_GET_REGS, &regs), 0);
	assert_memory_equal(&regs, &s->vcpu->regs, sizeof(regs));
	struct kvm_sregs sregs;
	assert_int_equal(ioctl(b.vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	assert_int_equal(sregs.cr3, s->vcpu->sregs.cr3);
	assert_int_equal(sregs.efer, s->vcpu->sregs.efer);
	assert_memory_equal(&sregs.cs, &s->vcpu->sregs.cs, sizeof(sregs.cs));

	for (uint32_t i = 1001; i <= 1010; i++)
		run_expect(&b, i);
	assert_int_equal(ioctl(b.vcpu_fd, KVM_GET_REGS, &regs), 0);
	assert_int_equal(regs.r12, 3 * 1010);
	assert_int_equal(regs.rcx, 1010);
	/* The original goes on by itself, untouched by the copy. */
	run_expect(&s->vm, 1001);
	mg_vm_destroy(&b);
}

static void test_restored_tsc_continues(void **state)
{
	struct saved *s = *state;
	struct mg_vm b;
	int found;
	if (mg_vm_create(&b, NULL, mg_host_cpuid()) < 0 ||
	    fb_vcpu_state_restore(b.vcpu_fd, s->vcpu) < 0)
		fail_msg("%s", fb_error_last());
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} tsc = {.hdr.nmsrs = 1, .e.index = 0x10};
	assert_int_equal(ioctl(b.vcpu_fd, KVM_GET_MSRS, &tsc), 1);
	uint64_t saved = msr_value(s->vcpu, 0x10, &found);
	assert_true(tsc.e.data >= saved);
	assert_true(tsc.e.data - saved < 1000000000000ull); /* not a fresh VM's TSC */
	mg_vm_destroy(&b);
}

static void test_errors_name_the_ioctl(void **state)
{
	struct saved *s = *state;
	assert_int_equal(fb_vcpu_state_restore(-1, s->vcpu), -1);
	assert_string_equal(fb_error_last(), "KVM_SET_SREGS: Bad file descriptor");
	assert_int_equal(fb_vm_state_save(-1, FB_VM_HAS_IRQCHIP, &s->vmst), -1);
	assert_string_equal(fb_error_last(), "KVM_GET_IRQCHIP: Bad file descriptor");
	struct fb_vcpu_state *tmp = calloc(1, sizeof(*tmp));
	assert_int_equal(fb_vcpu_state_save(-1, mg_caps(), 1, tmp), -1);
	assert_string_equal(fb_error_last(), "KVM_GET_REGS: Bad file descriptor");
	free(tmp);
}

static void test_blob_round_trip(void **state)
{
	struct saved *s = *state;
	size_t len;
	uint8_t *blob = fb_vcpu_state_serialize(s->vcpu, &len);
	assert_non_null(blob);
	struct fb_vcpu_state *back = calloc(1, sizeof(*back));
	assert_int_equal(fb_vcpu_state_parse(blob, len, back), 0);
	assert_memory_equal(back, s->vcpu, sizeof(*back));
	/* Every strict prefix is refused. */
	for (size_t cut = 0; cut < len; cut += 8)
		assert_int_equal(fb_vcpu_state_parse(blob, cut, back), -1);
	free(back);
	free(blob);

	struct fb_vm_state vmback;
	blob = fb_vm_state_serialize(&s->vmst, &len);
	assert_non_null(blob);
	assert_int_equal(fb_vm_state_parse(blob, len, &vmback), 0);
	assert_memory_equal(&vmback, &s->vmst, sizeof(vmback));
	free(blob);
}

static void test_blob_errors(void **state)
{
	struct saved *s = *state;
	size_t len;
	uint8_t *blob = fb_vcpu_state_serialize(s->vcpu, &len);
	struct fb_vcpu_state *back = calloc(1, sizeof(*back));
	blob[0] ^= 1;
	assert_int_equal(fb_vcpu_state_parse(blob, len, back), -1);
	assert_string_equal(fb_error_last(), "vCPU state: bad magic");
	blob[0] ^= 1;
	blob[4] = 9;
	assert_int_equal(fb_vcpu_state_parse(blob, len, back), -1);
	assert_string_equal(fb_error_last(), "vCPU state: unsupported version 9 (expected 1)");
	blob[4] = 1;
	blob[16 + 4] = 143; /* regs record length 144 -> 143 */
	assert_int_equal(fb_vcpu_state_parse(blob, len, back), -1);
	assert_non_null(strstr(fb_error_last(), "vCPU state"));
	free(back);
	free(blob);
}

/* Flip random bytes of serialized blobs: parsers must refuse or accept,
 * never read out of bounds (the ASan build checks that). */
static void test_blob_fuzz(void **state)
{
	struct saved *s = *state;
	size_t vlen, mlen, clen;
	uint8_t *v = fb_vcpu_state_serialize(s->vcpu, &vlen);
	uint8_t *m = fb_vm_state_serialize(&s->vmst, &mlen);
	uint8_t *c = fb_cpuid_serialize(mg_host_cpuid(), &clen);
	struct fb_vcpu_state *back = calloc(1, sizeof(*back));
	struct fb_vm_state vmback;
	unsigned seed = 12345, refused = 0;
	for (int round = 0; round < 3000; round++) {
		uint8_t *bufs[3] = {malloc(vlen), malloc(mlen), malloc(clen)};
		memcpy(bufs[0], v, vlen);
		memcpy(bufs[1], m, mlen);
		memcpy(bufs[2], c, clen);
		int flips = 1 + rand_r(&seed) % 4;
		for (int f = 0; f < flips; f++) {
			/* Mostly near the start, where the headers and lengths are. */
			size_t span = rand_r(&seed) % 2 ? 256 : vlen;
			bufs[0][rand_r(&seed) % (span < vlen ? span : vlen)] ^=
			    1 << (rand_r(&seed) % 8);
			bufs[1][rand_r(&seed) % mlen] ^= 1 << (rand_r(&seed) % 8);
			bufs[2][rand_r(&seed) % 64] ^= 1 << (rand_r(&seed) % 8);
		}
		size_t vcut = rand_r(&seed) % 8 ? vlen : rand_r(&seed) % vlen;
		refused += fb_vcpu_state_parse(bufs[0], vcut, back) < 0;
		refused += fb_vm_state_parse(bufs[1], mlen, &vmback) < 0;
		struct kvm_cpuid2 *parsed = fb_cpuid_parse(bufs[2], clen);
		refused += parsed == NULL;
		free(parsed);
		for (int i = 0; i < 3; i++)
			free(bufs[i]);
	}
	assert_true(refused > 0);
	free(back);
	free(v);
	free(m);
	free(c);
}

static void test_cpuid_normalized(void **state)
{
	(void)state;
	const struct kvm_cpuid2 *c = mg_host_cpuid();
	assert_non_null(c);
	int leaf1 = 0, kvm_sig = 0, kvmclock = 0;
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 1) {
			leaf1 = 1;
			assert_int_equal(e->ebx >> 24, 0);	    /* APIC ID */
			assert_int_equal((e->ebx >> 16) & 0xff, 1); /* logical CPUs */
			assert_true(e->ecx & (1u << 31));	    /* hypervisor */
		}
		if (e->function == 0x40000000 && !memcmp(&e->ebx, "KVMKVMKVM", 9))
			kvm_sig = 1;
		if (e->function == 0x40000001 && (e->eax & (1u << 3))) /* CLOCKSOURCE2 */
			kvmclock = 1;
		if (e->function == 0xb && e->index == 0)
			assert_int_equal(e->ebx, 1);
	}
	assert_true(leaf1);
	assert_true(kvm_sig);
	assert_true(kvmclock);
	/* Order-independent and sensitive to any change. */
	uint64_t fp = fb_cpuid_fingerprint(c);
	struct kvm_cpuid2 *r = fb_cpuid_dup(c);
	struct kvm_cpuid_entry2 first = r->entries[0];
	r->entries[0] = r->entries[r->nent - 1];
	r->entries[r->nent - 1] = first;
	assert_true(fb_cpuid_fingerprint(r) == fp);
	r->entries[1].ecx ^= 1;
	assert_true(fb_cpuid_fingerprint(r) != fp);
	free(r);
	assert_int_equal(fb_cpuid_check_fingerprint(fp, fp), 0);
	assert_int_equal(fb_cpuid_check_fingerprint(0x1234, 0xabcd), -1);
	assert_string_equal(
	    fb_error_last(),
	    "template was built on a different CPU (fingerprint 0000000000001234, "
	    "this host 000000000000abcd); rebuild it with `forkbox template build`");
}

int main(void)
{
	if (mg_kvm_fd() < 0) {
		/* Never skip into green: without /dev/kvm these tests fail. */
		fprintf(stderr, "%s\n", fb_error_last());
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_saved_state_is_complete),
	    cmocka_unit_test(test_restore_continues),
	    cmocka_unit_test(test_restored_tsc_continues),
	    cmocka_unit_test(test_errors_name_the_ioctl),
	    cmocka_unit_test(test_blob_round_trip),
	    cmocka_unit_test(test_blob_errors),
	    cmocka_unit_test(test_blob_fuzz),
	    cmocka_unit_test(test_cpuid_normalized),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
