/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: one Prometheus text with kited's own counters, every running VM's kite /metrics
 * with vm="NAME" added to each sample, and kite-dpu's stats with vm="NAME" added to the samples of a
 * VM's port or volume. A HELP/TYPE line that several kites send is kept once. kite's replies are
 * fetched without kd->lock (a slow kite delays only this request).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm_internal.h"

struct target {
	char name[KD_NAME_MAX + 1];
	char sock[KD_PATH_MAX * 2];
	bool running;
	char port[KD_NAME_MAX + 1];
	char volume[KD_NAME_MAX + 8];
};

/* Comment lines seen so far (one per family), in `seen` as "\n"-separated lines. */
static bool seen_before(struct kd_buf *seen, const char *line, size_t len)
{
	for (const char *p = seen->p; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (l == len && !memcmp(p, line, len))
			return true;
		p += l + (nl ? 1 : 0);
	}
	kd_buf_add(seen, line, len);
	kd_buf_add(seen, "\n", 1);
	return false;
}

static const char *vm_of_dpu_line(const struct target *t, unsigned n, const char *line, size_t len)
{
	char v[KD_NAME_MAX + 16];

	if (prom_label(line, len, "port", v, sizeof(v)))
		for (unsigned i = 0; i < n; i++)
			if (t[i].port[0] && !strcmp(t[i].port, v))
				return t[i].name;
	if (prom_label(line, len, "volume", v, sizeof(v)))
		for (unsigned i = 0; i < n; i++)
			if (t[i].volume[0] && !strcmp(t[i].volume, v))
				return t[i].name;
	return NULL;
}

static void add_text(struct kd_buf *out, struct kd_buf *seen, const char *text, const char *vm,
		     const struct target *t, unsigned n)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && !(p[0] == '#' && seen_before(seen, p, len)))
			prom_add_line(out, p, len, vm ? vm : t ? vm_of_dpu_line(t, n, p, len) : NULL);
		p += len + (nl ? 1 : 0);
	}
}

void h_metrics(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	unsigned counts[VM_CRASHED + 1] = { 0 }, n = 0, cap = 0;
	struct kd_buf out = { 0 }, seen = { 0 };
	struct target *t = NULL;
	char line[256], err[256];
	cJSON *dpu;
	char *text;

	(void)req;
	pthread_mutex_lock(&kd->lock);
	for (struct vm *v = kd->vms; v; v = v->next) {
		counts[v->state]++;
		if (n == cap) {
			struct target *nt = realloc(t, (cap = cap ? cap * 2 : 16) * sizeof(*t));

			if (!nt)
				break;
			t = nt;
		}
		memset(&t[n], 0, sizeof(t[n]));
		snprintf(t[n].name, sizeof(t[n].name), "%s", v->def.name);
		t[n].running = v->proc.pid && (v->state == VM_RUNNING || v->state == VM_PAUSED);
		vm_api_sock(kd, v->def.name, t[n].sock, sizeof(t[n].sock));
		if (v->res.has_port)
			snprintf(t[n].port, sizeof(t[n].port), "%s", v->res.port);
		if (v->res.has_volume)
			snprintf(t[n].volume, sizeof(t[n].volume), "%s", v->res.volume);
		n++;
	}
	pthread_mutex_unlock(&kd->lock);

	kd_buf_add(&out, "# TYPE kited_vms gauge\n", 23);
	for (int s = 0; s <= VM_CRASHED; s++) {
		snprintf(line, sizeof(line), "kited_vms{state=\"%s\"} %u\n", vm_state_name((enum vm_state)s), counts[s]);
		kd_buf_add(&out, line, strlen(line));
	}
	dpu = dpu_status_json(kd);
	snprintf(line, sizeof(line), "# TYPE kited_dpu_restarts_total counter\nkited_dpu_restarts_total %.0f\n",
		 cJSON_IsNumber(cJSON_GetObjectItem(dpu, "restarts")) ? cJSON_GetObjectItem(dpu, "restarts")->valuedouble : 0);
	cJSON_Delete(dpu);
	kd_buf_add(&out, line, strlen(line));
	for (unsigned i = 0; i < n; i++) {
		long status;

		if (!t[i].running || kite_call(t[i].sock, "GET", "/metrics", NULL, 5, &status, &text, err, sizeof(err)) < 0)
			continue;
		if (status == 200 && text)
			add_text(&out, &seen, text, t[i].name, NULL, 0);
		free(text);
	}
	text = dpu_stats_text(kd);
	if (text)
		add_text(&out, &seen, text, NULL, t, n);
	free(text);
	free(t);
	free(seen.p);
	if (!out.p)
		kd_reply_error(rep, 500, "metrics: out of memory");
	else
		kd_reply_text(rep, 200, out.p);
}
