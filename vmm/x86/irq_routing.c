/* SPDX-License-Identifier: MIT */
/* Legacy GSI routing consistent with the firmware tables (see kite/x86/irq.h). */
#include <linux/kvm.h>
#include <string.h>

#include "kite/x86/irq.h"
#include "kite/x86/layout.h"

static void route(struct kvm_irq_routing_entry *e, unsigned gsi, unsigned chip, unsigned pin)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

size_t x86_build_irq_routing(struct kvm_irq_routing_entry *e, size_t cap)
{
	size_t n = 0;

	if (cap < X86_IRQ_ROUTES)
		return 0;
	for (unsigned gsi = 0; gsi < 16; gsi++)
		route(&e[n++], gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi & 7);
	for (unsigned gsi = 0; gsi < KITE_X86_IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue;                       /* cascade: 8259 only */
		route(&e[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	}
	return n;
}
