#!/bin/bash
# /dev/kvm where the VM tests run is hardware(-semantics) KVM that can run a
# stock guest kernel: not PVM, CPU with svm/vmx, the KVM API answers.
# timeout: 60

check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@"; then echo "ok - $name"; else echo "not ok - $name"; fi
}

check "/dev/kvm is a character device" test -c /dev/kvm
check "KVM is not PVM (no /sys/module/kvm_pvm)" test ! -e /sys/module/kvm_pvm
check "CPU advertises svm or vmx" grep -qwE 'svm|vmx' /proc/cpuinfo
if grep -qw svm /proc/cpuinfo && [ -e /sys/module/kvm_amd ]; then
	check "kvm_amd uses nested paging (npt=Y)" grep -qx '[Y1]' /sys/module/kvm_amd/parameters/npt
fi

# KVM_GET_API_VERSION = _IO(0xAE, 0x00), KVM_CREATE_VM = _IO(0xAE, 0x01),
# KVM_CREATE_VCPU = _IO(0xAE, 0x41).
python3 - <<'PY'
import fcntl, os
try:
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
except OSError as e:
    print(f"not ok - open /dev/kvm: {e}")
    raise SystemExit(0)
version = fcntl.ioctl(kvm, 0xAE00)
print(("ok" if version == 12 else "not ok") + f" - KVM_GET_API_VERSION is 12 (got {version})")
try:
    vm = fcntl.ioctl(kvm, 0xAE01, 0)
    print("ok - KVM_CREATE_VM")
    vcpu = fcntl.ioctl(vm, 0xAE41, 0)
    print("ok - KVM_CREATE_VCPU")
    os.close(vcpu)
    os.close(vm)
except OSError as e:
    print(f"not ok - KVM_CREATE_VM/KVM_CREATE_VCPU: {e}")
PY
