/* SPDX-License-Identifier: MIT */
/* Reading the "config" and "vm" sections of a VM-state file (vmm/snapshot.h); pure, no VM needed
 * (also linked by the state-file fuzz target). */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "kite/log.h"
#include "kite/platform.h"
#include "kite/snapshot.h"
#include "kite/vm.h"

int vm_snapshot_read(struct snap_reader *r, const char *what, char **config_json, struct vm_snapshot_info *info,
		     char *err, size_t errlen)
{
	struct snap_cursor c;
	char *json = NULL;
	uint32_t page;
	unsigned nvcpu;

	*config_json = NULL;
	memset(info, 0, sizeof(*info));
	json = malloc(CONFIG_MAX);
	if (!json)
		return errf(err, errlen, "out of memory");
	if (snap_section_open(r, "config", 0, CONFIG_SECTION_VERSION, &c, err, errlen) < 0)
		goto bad;
	snap_get_str(&c, json, CONFIG_MAX);
	if (snap_cursor_finish(&c, err, errlen) < 0)
		goto bad;
	if (snap_section_open(r, "vm", 0, VM_SECTION_VERSION, &c, err, errlen) < 0)
		goto bad;
	snap_get_str(&c, info->kite_version, sizeof(info->kite_version));
	info->ram_size = snap_get_u64(&c);
	info->low_ram = snap_get_u64(&c);
	info->high_ram = snap_get_u64(&c);
	info->high_ram_gpa = snap_get_u64(&c);
	info->vcpus = snap_get_u32(&c);
	info->mem_file_size = snap_get_u64(&c);
	info->diff = snap_get_u8(&c) != 0;
	page = snap_get_u32(&c);
	if (page != SNAP_PAGE)
		snap_cursor_fail(&c, "written with another page size");
	else if (!info->ram_size || info->ram_size % SNAP_PAGE || info->low_ram + info->high_ram != info->ram_size ||
		 info->low_ram > KITE_MMIO_HOLE_START || info->low_ram % (64 * SNAP_PAGE) ||
		 (info->high_ram && info->high_ram_gpa != KITE_MMIO_HOLE_END))
		snap_cursor_fail(&c, "RAM layout kite does not build");
	else if (info->mem_file_size != info->ram_size)
		snap_cursor_fail(&c, "memory file size differs from the RAM size");
	else if (info->vcpus < 1 || info->vcpus > KITE_MAX_VCPUS)
		snap_cursor_fail(&c, "vCPU count out of range");
	if (snap_cursor_finish(&c, err, errlen) < 0)
		goto bad;
	nvcpu = snap_section_count(r, "vcpu");
	if (nvcpu != info->vcpus) {
		errf(err, errlen, "VM state %s: %u vCPU sections for %u vCPUs", what, nvcpu, info->vcpus);
		goto bad;
	}
	*config_json = json;
	return 0;
bad:
	free(json);
	return -1;
}

struct snap_reader *vm_snapshot_open(const char *state_path, char **config_json, struct vm_snapshot_info *info,
				     char *err, size_t errlen)
{
	struct snap_reader *r = snap_reader_open(state_path, err, errlen);

	*config_json = NULL;
	if (r && vm_snapshot_read(r, state_path, config_json, info, err, errlen) < 0) {
		snap_reader_free(r);
		r = NULL;
	}
	return r;
}

