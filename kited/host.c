/* SPDX-License-Identifier: MIT */
/* GET /host: the host's cores, memory, hugepages and KVM, kited's own facts, kite-dpu's state. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vm_internal.h"

/* A "Key:   N kB" line of /proc/meminfo (N), or 0. */
static unsigned long meminfo(const char *key)
{
	char line[256];
	unsigned long v = 0;
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			sscanf(line + klen + 1, "%lu", &v);
			break;
		}
	fclose(f);
	return v;
}

unsigned long host_mem_mib(void)
{
	return meminfo("MemTotal") / 1024;
}

void h_host(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	cJSON *j = cJSON_CreateObject(), *o;
	int fd, api = -1;

	(void)req;
	if (!j) {
		kd_reply_error(rep, 500, "host: out of memory");
		return;
	}
	cJSON_AddNumberToObject(j, "cores", (double)sysconf(_SC_NPROCESSORS_CONF));
	cJSON_AddNumberToObject(j, "cpus_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddNumberToObject(j, "memory_mib", (double)host_mem_mib());
	if ((o = cJSON_AddObjectToObject(j, "hugepages"))) {
		cJSON_AddNumberToObject(o, "size_kib", (double)meminfo("Hugepagesize"));
		cJSON_AddNumberToObject(o, "total", (double)meminfo("HugePages_Total"));
		cJSON_AddNumberToObject(o, "free", (double)meminfo("HugePages_Free"));
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		api = ioctl(fd, KVM_GET_API_VERSION, 0);
		close(fd);
	}
	if ((o = cJSON_AddObjectToObject(j, "kvm"))) {
		cJSON_AddStringToObject(o, "path", "/dev/kvm");
		cJSON_AddBoolToObject(o, "available", fd >= 0);
		if (api >= 0)
			cJSON_AddNumberToObject(o, "api_version", api);
		else
			cJSON_AddNullToObject(o, "api_version");
	}
	if ((o = cJSON_AddObjectToObject(j, "kited"))) {
		cJSON_AddStringToObject(o, "version", KD_VERSION);
		cJSON_AddNumberToObject(o, "pid", (double)getpid());
		cJSON_AddStringToObject(o, "state_dir", kd->state_dir);
		cJSON_AddBoolToObject(o, "jail", kd->jail);
	}
	cJSON_AddItemToObject(j, "dpu", dpu_status_json(kd));
	kd_reply_json(rep, 200, j);
}
