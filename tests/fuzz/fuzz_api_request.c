/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for kite's API request parsing (api/router.c, api/json_body.c, api/res_*.c): the
 * input is "METHOD PATH\nBODY". Checks: api_parse() either fills a command (which api_cmd_free
 * releases) or gives a non-empty, NUL-terminated fault message; the fault as a reply body is valid
 * JSON with exactly "fault_message". Generated inputs mix valid requests, field names and bytes.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/api_internal.h"
#include "fuzz_regress.h"

static unsigned long parsed, refused;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[512], method[16], err[API_ERR_LEN];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hl = nl ? (size_t)(nl - data) : size;
	const char *body = nl ? (const char *)nl + 1 : "";
	size_t blen = nl ? size - hl - 1 : 0;
	struct api_cmd cmd;
	char *sp;

	if (hl >= sizeof(line) || memchr(data, '\0', hl))
		return 0;
	memcpy(line, data, hl);
	line[hl] = '\0';
	sp = strchr(line, ' ');
	if (!sp || (size_t)(sp - line) >= sizeof(method))
		return 0;
	memcpy(method, line, (size_t)(sp - line));
	method[sp - line] = '\0';
	err[0] = '\0';
	if (api_parse(method, sp + 1, body, blen, &cmd, err, sizeof(err)) == 0) {
		parsed++;
		api_cmd_free(&cmd);
	} else {
		struct api_reply r = { 0 };
		cJSON *o;

		refused++;
		if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			abort();
		api_reply_fault(&r, err);
		o = r.body ? cJSON_Parse(r.body) : NULL;
		if (!o || r.status != 400 || !cJSON_IsString(cJSON_GetObjectItem(o, "fault_message")) ||
		    cJSON_GetArraySize(o) != 1)
			abort();
		cJSON_Delete(o);
		free(r.body);
	}
	return 0;
}

size_t fuzz_make_input(uint64_t seed, uint8_t *buf, size_t cap)
{
	static const char *const reqs[] = {
		"PUT /boot-source\n{\"kernel_image_path\":\"k\",\"boot_args\":\"a\"}",
		"PUT /drives/root\n{\"drive_id\":\"root\",\"path_on_host\":\"p\",\"is_root_device\":true,\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"refill_time\":2}}}",
		"PATCH /drives/root\n{\"drive_id\":\"root\",\"path_on_host\":\"q\"}",
		"PUT /network-interfaces/eth0\n{\"iface_id\":\"eth0\",\"host_dev_name\":\"t\",\"mtu\":1500}",
		"PUT /machine-config\n{\"vcpu_count\":2,\"mem_size_mib\":64,\"smt\":false,\"pin_vcpus\":[0,1]}",
		"PATCH /machine-config\n{\"mem_size_mib\":32}",
		"PATCH /machine-config\n{\"pin_io\":[1,0],\"iothreads\":false,\"hugepages\":\"off\"}",
		"PUT /actions\n{\"action_type\":\"InstanceStart\"}",
		"PATCH /vm\n{\"state\":\"Paused\"}",
		"PUT /balloon\n{\"amount_mib\":1,\"deflate_on_oom\":true,\"stats_polling_interval_s\":1}",
		"PATCH /balloon/statistics\n{\"stats_polling_interval_s\":2}",
		"PUT /logger\n{\"log_path\":\"l\",\"level\":\"Info\"}",
		"PUT /metrics\n{\"metrics_path\":\"m\"}",
		"PUT /entropy\n{}",
		"GET /\n", "GET /vm/config\n", "GET /balloon/statistics\n", "GET /metrics\n",
	};
	const char *base = reqs[fuzz_rand(&seed) % (sizeof(reqs) / sizeof(reqs[0]))];
	size_t n = strlen(base) < cap ? strlen(base) : cap;
	unsigned flips = (unsigned)(fuzz_rand(&seed) % 4);

	memcpy(buf, base, n);
	for (unsigned i = 0; i < flips && n; i++) {
		size_t at = (size_t)(fuzz_rand(&seed) % n);
		static const char alphabet[] = "{}[]\":,0123456789-.eE \\/nultrfa\x01\xff";

		buf[at] = (uint8_t)alphabet[fuzz_rand(&seed) % (sizeof(alphabet) - 1)];
	}
	if (fuzz_rand(&seed) % 8 == 0 && n > 2)
		n = (size_t)(fuzz_rand(&seed) % n);   /* truncated */
	return n;
}

int fuzz_report(void)
{
	printf("fuzz_api_request: %lu parsed, %lu refused\n", parsed, refused);
	if (!parsed || !refused) {
		printf("fuzz_api_request: expected both parsed and refused inputs\n");
		return 1;
	}
	return 0;
}
