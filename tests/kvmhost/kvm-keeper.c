/* kvm-keeper: holds one idle KVM VM open for the life of the KVM test host.
 *
 * Why: KVM flips kernel static keys when the first VM is created or the
 * last one destroyed (preempt notifiers), when the count of vCPUs whose
 * local APIC is software-disabled crosses zero (a new vCPU starts that way;
 * restoring a template enables it) and when the count of vCPUs without an
 * in-kernel APIC does (forkbox's host probe makes one). Every flip
 * live-patches kernel text (int3 at the patch site, then a sync of every
 * CPU). Under QEMU's TCG a vCPU of the test host could keep re-executing
 * that int3 and the whole test host stopped: the "freeze" of
 * tests/kvmhost/README.md. Two idle VMs, one with an APIC its vCPU never
 * enables and one without an in-kernel APIC, keep every count above zero,
 * so forks, boots and teardowns no longer patch the kernel.
 *
 * Built static by build-image into the test host's initramfs and started
 * by its init after kvm-amd is loaded. Prints one line, then sleeps. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "kvm-keeper: %s: %s\n", what, strerror(errno));
	return 1;
}

/* A VM with one vCPU that never runs; with_irqchip: an in-kernel local
 * APIC, as every forkbox VM has (it stays software-disabled), else none. */
static int hold_vm(int kvm, int with_irqchip)
{
	int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (with_irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	if (ioctl(vm, KVM_CREATE_VCPU, 0UL) < 0)
		return fail("KVM_CREATE_VCPU");
	return 0;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("open /dev/kvm");
	if (hold_vm(kvm, 1) || hold_vm(kvm, 0))
		return 1;
	printf("kvm-keeper: holding two idle VMs so KVM never patches kernel text\n");
	fflush(stdout);
	for (;;)
		pause();
}
