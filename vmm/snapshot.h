/* SPDX-License-Identifier: MIT */
/*
 * The VM level of a snapshot (vmm/snapshot.c): the VM-state file (kite/snapshot.h) and the memory
 * file of a paused VM, and a VM rebuilt from them. docs/api.md describes both files.
 *
 * State file sections, in this order:
 *   "config" 0  v1  str: the VM's configuration as Firecracker's JSON (GET /vm/config), from which
 *                   the loader rebuilds the same board (devices, their host paths and sockets)
 *   "vm" 0      v1  str kite version; u64 ram_size, low_ram, high_ram, high_ram_gpa; u32 vcpus;
 *                   u64 mem_file_size; u8 diff; u32 page_size
 *   the devices' sections (board_save, vmm/board.h: first, their quiescing may raise interrupts)
 *   "vcpu" i, "irqchip" 0-2, "pit" 0, "clock" 0   (kite/x86/kvm_state.h)
 * Memory file: guest RAM as one flat image, low RAM then high RAM (file offset = RAM offset, not
 * guest address), ram_size bytes. Full: all of it (pages of zeros left as holes). Diff: only the
 * pages written since the previous snapshot (KVM's dirty log of guest writes, plus every page kite's
 * own devices ever reached); the rest are holes, and the file is meant to be laid over the one
 * before it (Firecracker's semantics).
 *
 * Main thread (the control's owner). Errors: -1 with one line in err naming the file or part.
 */
#ifndef KITE_VMM_SNAPSHOT_H
#define KITE_VMM_SNAPSHOT_H

#define SNAP_PAGE              4096u
#define VM_SECTION_VERSION     1u
#define CONFIG_SECTION_VERSION 1u
#define CONFIG_MAX             (1u << 20)   /* bytes of the "config" section's JSON */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct snap_reader;

struct vm_snapshot_params {
	bool diff;
	const char *state_path;
	const char *mem_path;
	const char *config_json;     /* the "config" section */
};

/* The VM must be paused. Writes the memory file, then the state file (atomically, last: a state
 * file exists only with its memory file complete). Resets the dirty log when tracking is on. */
int vm_snapshot_create(struct vm *vm, const struct vm_snapshot_params *p, char *err, size_t errlen);

/* What the "vm" section says. */
struct vm_snapshot_info {
	char kite_version[32];
	uint64_t ram_size, low_ram, high_ram, high_ram_gpa, mem_file_size;
	uint32_t vcpus;
	bool diff;
};

/* Read and validate the state file whole (CRCs, format version, the "config" and "vm" sections,
 * one "vcpu" section per vCPU). Returns the reader and *config_json (malloc'd), or NULL with err. */
struct snap_reader *vm_snapshot_open(const char *state_path, char **config_json, struct vm_snapshot_info *info,
				     char *err, size_t errlen);
/* The same from a parsed file (what names it in errors); 0 or -1 with err (vmm/snapshot_info.c). */
int vm_snapshot_read(struct snap_reader *r, const char *what, char **config_json, struct vm_snapshot_info *info,
		     char *err, size_t errlen);
/* Open the memory file for reading and check that it holds exactly info->mem_file_size bytes.
 * Returns the fd, or -1 with err. */
int vm_snapshot_open_mem(const char *mem_path, const struct vm_snapshot_info *info, char *err, size_t errlen);
/* On a VM from vm_create_restored (same RAM layout and vCPU count, checked here): the irqchip, PIT,
 * clock, every vCPU, board_restore, then refuses a section nothing consumed. No vCPU has run. */
int vm_snapshot_restore(struct vm *vm, struct snap_reader *r, const struct vm_snapshot_info *info, char *err,
			size_t errlen);

#endif
