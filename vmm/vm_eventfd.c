/* SPDX-License-Identifier: MIT */
/* ioeventfd and irqfd registration: doorbells and interrupts that never leave the kernel. */
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kite/log.h"
#include "kite/vm.h"

int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, bool pio, int fd, bool deassign)
{
	struct kvm_ioeventfd io;

	if ((len != 1 && len != 2 && len != 4 && len != 8) || fd < 0) {
		log_err("vm: ioeventfd at 0x%llx: bad length %u or fd %d", (unsigned long long)addr, len, fd);
		return -1;
	}
	memset(&io, 0, sizeof(io));
	io.addr = addr;
	io.len = len;
	io.fd = fd;
	io.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		log_err("vm: KVM_IOEVENTFD %s %s 0x%llx len %u failed: %m", deassign ? "removing" : "adding",
			pio ? "port" : "MMIO", (unsigned long long)addr, len);
		return -1;
	}
	return 0;
}

int vm_irqfd(struct vm *vm, unsigned gsi, int fd, bool deassign)
{
	struct kvm_irqfd irq;

	memset(&irq, 0, sizeof(irq));
	irq.fd = (uint32_t)fd;
	irq.gsi = gsi;
	irq.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
	if (fd < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &irq) < 0) {
		log_err("vm: KVM_IRQFD %s gsi %u fd %d failed: %m", deassign ? "removing" : "adding", gsi, fd);
		return -1;
	}
	return 0;
}
