/* SPDX-License-Identifier: MIT */
/* A struct vm over anonymous memory for the x86 boot unit tests (no /dev/kvm). */
#ifndef KITE_TEST_FAKE_VM_H
#define KITE_TEST_FAKE_VM_H

#include <stddef.h>
#include <stdint.h>

#include "kite/vm.h"

struct fake_vm {
	struct vm vm;
	struct vm_config cfg;
	void *ram;
	size_t ram_len;
};

/* RAM laid out like the VMM does: [0, min(ram, hole)) and the rest at 4 GiB. The host mapping is
 * MAP_NORESERVE, so large sizes cost nothing until touched. */
void fake_vm_init(struct fake_vm *f, uint64_t ram_bytes, unsigned ncpus);
void fake_vm_fini(struct fake_vm *f);
void *fake_gpa(struct fake_vm *f, uint64_t gpa, uint64_t len);

/* Write len bytes to a new temporary file; returns its malloc'd path. */
char *write_temp(const void *data, size_t len);
/* Temporary sparse file of size bytes. */
char *sparse_temp(uint64_t size);
void remove_temp(char *path);

#endif
