/* SPDX-License-Identifier: MIT */
/*
 * The /dpu routes of kited's API (docs/kited.md): kite-dpu's state, switch ports (vhost or TAP,
 * VLAN, MTU, rates, ACLs, counters) and volumes (made sparse or from an image in DIR/volumes,
 * read-only, QoS, growth, counters). Every body is checked whole before anything is done, so a
 * refused request changes nothing; each handler holds d->op for its whole exchange with kite-dpu
 * (dpu.h) and writes the records (dpu_res_save) after a change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kite/log.h"
#include "dpu.h"
#include "vm_internal.h"

#define MAX_MTU 9000
#define MAX_SIZE_MIB (16u << 20)   /* 16 TiB */

/* A POST body creating a port or volume: its fields and a valid "name"; else a 400 reply and false. */
static bool create_ok(const cJSON *b, const char *what, const struct kd_field *fields, unsigned n,
		      struct kd_reply *rep)
{
	const char *name = dpu_str(b, "name");
	char err[256];

	if (!b)
		kd_reply_error(rep, 400, "%s: a body is required", what);
	else if (kd_body_check(b, what, fields, n, err, sizeof(err)) < 0)
		kd_reply_error(rep, 400, "%s", err);
	else if (!name)
		kd_reply_error(rep, 400, "%s: \"name\" is required", what);
	else if (!vm_name_ok(name))
		kd_reply_error(rep, 400, "%s %.64s: a name is 1-%d letters, digits and '-'", what, name, KD_NAME_MAX);
	else
		return true;
	return false;
}

static int http_of(int r)
{
	return r == DPU_UNAVAILABLE ? 503 : 400;
}

/* d->op taken, and kite-dpu running; else a 503 reply and NULL. */
static struct dpu *op_begin(struct kited *kd, struct kd_reply *rep)
{
	struct dpu *d = kd->dpu;

	enum dpu_state st;

	if (!d) {
		kd_reply_error(rep, 503, "kite-dpu is down");
		return NULL;
	}
	pthread_mutex_lock(&kd->lock);   /* a quick 503 while a restart is under way */
	st = d->state;
	pthread_mutex_unlock(&kd->lock);
	if (st != DPU_RUNNING) {
		kd_reply_error(rep, 503, "kite-dpu is %s", st == DPU_DOWN ? "down" : "restarting");
		return NULL;
	}
	pthread_mutex_lock(&d->op);
	if (d->state != DPU_RUNNING) {
		kd_reply_error(rep, 503, "kite-dpu is %s", d->state == DPU_DOWN ? "down" : "restarting");
		pthread_mutex_unlock(&d->op);
		return NULL;
	}
	return d;
}

/* op_begin for a POST creating port/volume `name`: 409 if it exists, else its vhost-user socket's
 * path into sock (sock NULL: none, as for a TAP port). d with d->op held, or NULL after a reply (d->op
 * not held). */
static struct dpu *op_create(struct kited *kd, const char *name, bool port, char *sock, size_t socklen,
			     struct kd_reply *rep)
{
	struct dpu *d = op_begin(kd, rep);
	char err[256];

	if (!d)
		return NULL;
	if (dpu_res_find(port ? d->ports : d->vols, name))
		kd_reply_error(rep, 409, "%s %s exists", port ? "port" : "volume", name);
	else if (sock && dpu_sock_path(d, port ? "port" : "vol", name, sock, socklen, err, sizeof(err)) < 0)
		kd_reply_error(rep, 400, "%s", err);
	else
		return d;
	pthread_mutex_unlock(&d->op);
	return NULL;
}

/* Makes `rec` in kite-dpu and records it (taking it): 201 with the record, or the error reply
 * (rec deleted) and false. d->op held. */
static bool add_rec(struct dpu *d, cJSON *rec, bool port, struct kd_reply *rep)
{
	char err[256];
	int r = dpu_res_add(d, rec, port, err, sizeof(err));

	if (r != DPU_OK) {
		kd_reply_error(rep, http_of(r), "%s %s: %s", port ? "port" : "volume", cJSON_GetStringValue(dpu_item(rec, "name")),
			       err);
		cJSON_Delete(rec);
		return false;
	}
	cJSON_AddItemToArray(port ? d->ports : d->vols, rec);
	dpu_res_save(d);
	kd_reply_json(rep, 201, cJSON_Duplicate(rec, true));
	return true;
}

/* op_begin, then the record of port/volume `name`: it with d->op held, or NULL after a reply (d->op
 * not held). */
static cJSON *op_find(struct kited *kd, const char *name, bool port, struct kd_reply *rep, struct dpu **dp)
{
	struct dpu *d = op_begin(kd, rep);
	cJSON *rec;

	if (!d)
		return NULL;
	rec = dpu_res_find(port ? d->ports : d->vols, name);
	if (!rec) {
		kd_reply_error(rep, 404, "no %s %s", port ? "port" : "volume", name);
		pthread_mutex_unlock(&d->op);
		return NULL;
	}
	*dp = d;
	return rec;
}

/* The running VM using port/volume `name`, as a 409 reply: true if there is one. */
static bool in_use(struct kited *kd, const cJSON *rec, bool port, struct kd_reply *rep)
{
	const char *name = dpu_str(rec, "name"), *owner = dpu_str(rec, "vm");
	const struct vm *v;
	char user[KD_NAME_MAX + 1] = "";

	pthread_mutex_lock(&kd->lock);
	v = dpu_res_user(kd, name, port, NULL);
	if (v)
		snprintf(user, sizeof(user), "%s", v->def.name);
	pthread_mutex_unlock(&kd->lock);
	if (!user[0] && owner)
		snprintf(user, sizeof(user), "%s", owner);
	if (!user[0])
		return false;
	kd_reply_error(rep, 409, "%s %s is in use by VM %s", port ? "port" : "volume", name, user);
	return true;
}

/* ---- GET /dpu ---- */

static void get_dpu(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	(void)req;
	kd_reply_json(rep, 200, dpu_status_json(kd));
}

/* ---- ports ---- */

static const struct kd_field port_fields[] = {
	{ "name", KD_F_STR }, { "type", KD_F_STR }, { "tap", KD_F_STR }, { "vlan", KD_F_UINT },
	{ "mtu", KD_F_UINT }, { "rate_pps", KD_F_UINT }, { "rate_bps", KD_F_UINT },
};

/* vlan, mtu: in range when present. 0 or -1 with err. */
static int check_port_values(const cJSON *b, const char *name, char *err, size_t errlen)
{
	const cJSON *vlan = dpu_item(b, "vlan"), *mtu = dpu_item(b, "mtu");

	if (vlan && vlan->valuedouble > 4094)
		return errf(err, errlen, "port %s: vlan must be 1..4094 (0: 1)", name);
	if (mtu && (mtu->valuedouble < 68 || mtu->valuedouble > MAX_MTU))
		return errf(err, errlen, "port %s: mtu must be 68..%d", name, MAX_MTU);
	return 0;
}

/* GET /dpu/ports or /dpu/volumes: the records */
static void list_table(struct kited *kd, struct kd_reply *rep, bool port)
{
	struct dpu *d = kd->dpu;

	if (!d) {
		kd_reply_json(rep, 200, cJSON_CreateArray());
		return;
	}
	pthread_mutex_lock(&d->op);
	kd_reply_json(rep, 200, cJSON_Duplicate(port ? d->ports : d->vols, true));
	pthread_mutex_unlock(&d->op);
}

static void list_ports(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	(void)req;
	list_table(kd, rep, true);
}

static void create_port(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	const cJSON *b = req->body;
	const char *name = dpu_str(b, "name"), *type = dpu_str(b, "type"), *tap = dpu_str(b, "tap");
	char err[256], sock[KD_PATH_MAX];
	struct dpu *d;
	cJSON *rec;

	if (!create_ok(b, "port", port_fields, sizeof(port_fields) / sizeof(port_fields[0]), rep))
		return;
	if (type && strcmp(type, "vhost") && strcmp(type, "tap")) {
		kd_reply_error(rep, 400, "port %s: type must be vhost or tap", name);
		return;
	}
	if (type && !strcmp(type, "tap")) {
		if (!tap)
			tap = name;
		if (strlen(tap) < 1 || strlen(tap) > 15) {
			kd_reply_error(rep, 400, "port %s: tap interface name must be 1-15 bytes", name);
			return;
		}
	} else if (tap) {
		kd_reply_error(rep, 400, "port %s: \"tap\" is for type tap", name);
		return;
	}
	if (check_port_values(b, name, err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "%s", err);
		return;
	}
	sock[0] = '\0';
	d = op_create(kd, name, true, tap ? NULL : sock, sizeof(sock), rep);
	if (!d)
		return;
	rec = dpu_port_rec(name, sock, cJSON_IsNumber(dpu_item(b, "vlan")) ? (unsigned)dpu_item(b, "vlan")->valuedouble : 1,
			   NULL);
	if (tap) {
		cJSON_ReplaceItemInObjectCaseSensitive(rec, "type", cJSON_CreateString("tap"));
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "socket");
		cJSON_AddStringToObject(rec, "tap", tap);
	}
	for (const char *const *k = (const char *const[]){ "mtu", "rate_pps", "rate_bps", NULL }; *k; k++)
		if (dpu_item(b, *k))
			cJSON_ReplaceItemInObjectCaseSensitive(rec, *k, cJSON_CreateNumber(dpu_item(b, *k)->valuedouble));
	add_rec(d, rec, true, rep);
	pthread_mutex_unlock(&d->op);
}

/* kite-dpu's switch_stats object of port `name`, or NULL. */
static cJSON *port_stats(struct dpu *d, const char *name)
{
	cJSON *q = cJSON_CreateObject(), *rep = NULL, *p, *found = NULL;
	char err[256];

	cJSON_AddStringToObject(q, "cmd", "switch_stats");
	if (dpu_req(d, q, &rep, err, sizeof(err)) == DPU_OK)
		cJSON_ArrayForEach(p, dpu_item(dpu_item(rep, "switch"), "ports"))
			if (dpu_str(p, "name") && !strcmp(dpu_str(p, "name"), name)) {
				found = cJSON_Duplicate(p, true);
				break;
			}
	cJSON_Delete(q);
	cJSON_Delete(rep);
	return found;
}

static cJSON *vol_stats(struct dpu *d, const char *name);

/* GET /dpu/ports/{} or /dpu/volumes/{}: the record and kite-dpu's counters ("stats") */
static void get_rec(struct kited *kd, struct kd_req *req, struct kd_reply *rep, bool port)
{
	const char *what = port ? "port" : "volume";
	struct dpu *d = kd->dpu;
	cJSON *rec, *o, *st;

	if (!d) {
		kd_reply_error(rep, 404, "no %s %s (kite-dpu is down)", what, req->params[0]);
		return;
	}
	pthread_mutex_lock(&d->op);
	rec = dpu_res_find(port ? d->ports : d->vols, req->params[0]);
	if (!rec) {
		kd_reply_error(rep, 404, "no %s %s", what, req->params[0]);
	} else {
		o = cJSON_Duplicate(rec, true);
		st = d->state != DPU_RUNNING ? NULL : port ? port_stats(d, req->params[0]) : vol_stats(d, req->params[0]);
		cJSON_AddItemToObject(o, "stats", st ? st : cJSON_CreateNull());
		kd_reply_json(rep, 200, o);
	}
	pthread_mutex_unlock(&d->op);
}

static void get_port(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	get_rec(kd, req, rep, true);
}

static void patch_port(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	static const struct kd_field fields[] = {
		{ "vlan", KD_F_UINT }, { "mtu", KD_F_UINT }, { "rate_pps", KD_F_UINT }, { "rate_bps", KD_F_UINT },
	};
	const char *name = req->params[0];
	const cJSON *b = req->body;
	char err[256];
	struct dpu *d;
	cJSON *rec, *q;
	int r;

	if (kd_body_check(b, name, fields, sizeof(fields) / sizeof(fields[0]), err, sizeof(err)) < 0 ||
	    check_port_values(b, name, err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "%s", err);
		return;
	}
	rec = op_find(kd, name, true, rep, &d);
	if (!rec)
		return;
	q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "cmd", "port_set");
	cJSON_AddStringToObject(q, "name", name);
	if (dpu_item(b, "vlan"))
		cJSON_AddNumberToObject(q, "vlan", dpu_item(b, "vlan")->valuedouble >= 1 ? dpu_item(b, "vlan")->valuedouble : 1);
	if (dpu_item(b, "mtu"))
		cJSON_AddNumberToObject(q, "mtu", dpu_item(b, "mtu")->valuedouble);
	if (dpu_item(b, "rate_pps") || dpu_item(b, "rate_bps")) {
		/* kite-dpu sets both rates at once (an absent one is 0) */
		for (const char *const *k = (const char *const[]){ "rate_pps", "rate_bps", NULL }; *k; k++)
			cJSON_AddNumberToObject(q, *k, dpu_item(b, *k) ? dpu_item(b, *k)->valuedouble : cJSON_GetNumberValue(dpu_item(rec, *k)));
	}
	r = dpu_req(d, q, NULL, err, sizeof(err));
	if (r == DPU_OK) {
		cJSON *v;

		cJSON_ArrayForEach(v, q)
			if (strcmp(v->string, "cmd") && strcmp(v->string, "name"))
				cJSON_ReplaceItemInObjectCaseSensitive(rec, v->string, cJSON_CreateNumber(v->valuedouble));
		dpu_res_save(d);
		kd_reply_json(rep, 200, cJSON_Duplicate(rec, true));
	} else {
		kd_reply_error(rep, http_of(r), "port %s: %s", name, err);
	}
	cJSON_Delete(q);
	pthread_mutex_unlock(&d->op);
}

/* DELETE of a port or volume: 409 while a VM uses it; the record goes once kite-dpu no longer
 * holds it. Replies 204 (image: the volume's image path) or the error. */
static void delete_rec(struct kited *kd, const char *name, bool port, struct kd_reply *rep, char *image,
		       size_t imagelen)
{
	const char *what = port ? "port" : "volume";
	struct dpu *d;
	char err[256];
	cJSON *rec = op_find(kd, name, port, rep, &d);
	int r;

	if (!rec)
		return;
	if (in_use(kd, rec, port, rep))
		goto out;
	r = dpu_res_remove(d, name, port, err, sizeof(err));
	if (r == DPU_UNAVAILABLE) {
		kd_reply_error(rep, 503, "%s %s: %s", what, name, err);
		goto out;
	}
	if (r == DPU_REFUSED)   /* kite-dpu does not hold it (a re-apply it refused): the record goes */
		log_warn("%s %s: kite-dpu: %s", what, name, err);
	if (image)
		snprintf(image, imagelen, "%s", dpu_str(rec, "image") ? dpu_str(rec, "image") : "");
	dpu_res_drop(port ? d->ports : d->vols, name);
	dpu_res_save(d);
	kd_reply_empty(rep, 204);
out:
	pthread_mutex_unlock(&d->op);
}

static void delete_port(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	delete_rec(kd, req->params[0], true, rep, NULL, 0);
}

/* ---- ACLs ---- */

static const char *acl_key(const char *dir)
{
	return !strcmp(dir, "in") ? "acl_in" : !strcmp(dir, "out") ? "acl_out" : NULL;
}

/* op_begin, then the ACL list of direction `dir` in the record of `port`: it with d->op held (*dp), or
 * NULL after a reply (d->op not held). */
static cJSON *op_acl_list(struct kited *kd, const char *port, const char *dir, struct kd_reply *rep,
			  struct dpu **dp)
{
	struct dpu *d = op_begin(kd, rep);
	const char *key = acl_key(dir);
	cJSON *rec;

	if (!d)
		return NULL;
	rec = dpu_res_find(d->ports, port);
	if (!rec) {
		kd_reply_error(rep, 404, "no port %s", port);
	} else if (!key) {
		kd_reply_error(rep, 400, "port %s: an ACL direction is in or out, not %.16s", port, dir);
	} else {
		if (!cJSON_IsArray(dpu_item(rec, key)))
			cJSON_ReplaceItemInObjectCaseSensitive(rec, key, cJSON_CreateArray());
		*dp = d;
		return (cJSON *)dpu_item(rec, key);
	}
	pthread_mutex_unlock(&d->op);
	return NULL;
}

static int acl_req(struct dpu *d, const char *cmd, const char *port, const char *dir, const char *rule, int index,
		   cJSON **reply, char *err, size_t errlen)
{
	cJSON *q = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(q, "cmd", cmd);
	cJSON_AddStringToObject(q, "port", port);
	cJSON_AddStringToObject(q, "dir", dir);
	if (rule)
		cJSON_AddStringToObject(q, "rule", rule);
	if (index >= 0)
		cJSON_AddNumberToObject(q, "index", index);
	r = dpu_req(d, q, reply, err, errlen);
	cJSON_Delete(q);
	return r;
}

static void add_acl(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	static const struct kd_field fields[] = { { "dir", KD_F_STR }, { "rule", KD_F_STR } };
	const char *port = req->params[0], *dir = dpu_str(req->body, "dir"), *rule = dpu_str(req->body, "rule");
	char err[256];
	cJSON *list, *reply = NULL;
	struct dpu *d;
	int r;

	if (!req->body || kd_body_check(req->body, port, fields, 2, err, sizeof(err)) < 0 || !dir || !rule) {
		kd_reply_error(rep, 400, "%s", req->body && (!dir || !rule) ?
				      "acl: \"dir\" (in|out) and \"rule\" are required" : req->body ? err : "acl: a body is required");
		return;
	}
	if (strlen(rule) > 256) {
		kd_reply_error(rep, 400, "port %s: an ACL rule is at most 256 bytes", port);
		return;
	}
	list = op_acl_list(kd, port, dir, rep, &d);
	if (!list)
		return;
	r = acl_req(d, "acl_add", port, dir, rule, -1, &reply, err, sizeof(err));
	if (r != DPU_OK || !cJSON_IsNumber(dpu_item(reply, "index"))) {
		kd_reply_error(rep, r != DPU_OK ? http_of(r) : 503, "port %s: acl %s: %s", port, dir,
			       r != DPU_OK ? err : "kite-dpu gave no index");
		goto out_reply;
	}
	cJSON_AddItemToArray(list, cJSON_CreateString(rule));
	dpu_res_save(d);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "index", dpu_item(reply, "index")->valuedouble);
	kd_reply_json(rep, 201, o);
out_reply:
	cJSON_Delete(reply);
	pthread_mutex_unlock(&d->op);
}

static void del_acl_common(struct kited *kd, struct kd_req *req, struct kd_reply *rep, bool one)
{
	const char *port = req->params[0], *dir = req->params[1];
	char err[256], *end;
	long index = -1;
	struct dpu *d;
	cJSON *list;
	int r;

	if (one) {
		errno = 0;
		index = strtol(req->params[2], &end, 10);
		if (*end || end == req->params[2] || index < 0 || index > 65535 || errno) {
			kd_reply_error(rep, 400, "port %s: an ACL index is a number, not %.16s", port, req->params[2]);
			return;
		}
	}
	list = op_acl_list(kd, port, dir, rep, &d);
	if (!list)
		return;
	if (one && index >= cJSON_GetArraySize(list)) {
		kd_reply_error(rep, 404, "port %s: no %s rule %ld", port, dir, index);
		goto out;
	}
	r = acl_req(d, one ? "acl_del" : "acl_clear", port, dir, NULL, (int)index, NULL, err, sizeof(err));
	if (r != DPU_OK) {
		kd_reply_error(rep, http_of(r), "port %s: acl %s: %s", port, dir, err);
		goto out;
	}
	if (one)
		cJSON_DeleteItemFromArray(list, (int)index);
	else
		while (cJSON_GetArraySize(list))
			cJSON_DeleteItemFromArray(list, 0);
	dpu_res_save(d);
	kd_reply_empty(rep, 204);
out:
	pthread_mutex_unlock(&d->op);
}

static void clear_acl(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	del_acl_common(kd, req, rep, false);
}

static void del_acl(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	del_acl_common(kd, req, rep, true);
}

/* ---- volumes ---- */

static const struct kd_field vol_fields[] = {
	{ "name", KD_F_STR }, { "size_mib", KD_F_UINT }, { "image", KD_F_STR }, { "readonly", KD_F_BOOL },
	{ "iops", KD_F_UINT }, { "bps", KD_F_UINT },
};

static void list_vols(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	(void)req;
	list_table(kd, rep, false);
}

/* The path of "image" (a file name in DIR/volumes, or a path in it), an existing regular file whose
 * size is a multiple of 512; 0, or -1 with err. */
static int image_path(const struct dpu *d, const char *name, const char *image, char *out, size_t len,
		      unsigned long long *size, char *err, size_t errlen)
{
	size_t n = strlen(d->img_dir);
	const char *file = image;
	struct stat sb;

	if (image[0] == '/') {
		if (strncmp(image, d->img_dir, n) || image[n] != '/')
			return errf(err, errlen, "volume %s: image %.128s is not in %s", name, image, d->img_dir);
		file = image + n + 1;
	}
	if (!*file || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, ".."))
		return errf(err, errlen, "volume %s: image must be a file in %s", name, d->img_dir);
	if ((size_t)snprintf(out, len, "%s/%s", d->img_dir, file) >= len)
		return errf(err, errlen, "volume %s: image path too long", name);
	if (lstat(out, &sb) < 0 || !S_ISREG(sb.st_mode))
		return errf(err, errlen, "volume %s: image %s: %s", name, out,
			    errno == ENOENT ? "no such file" : "not a regular file");
	if (sb.st_size < 512 || sb.st_size % 512)
		return errf(err, errlen, "volume %s: image %s: its size is not a positive multiple of 512", name, out);
	*size = (unsigned long long)sb.st_size;
	return 0;
}

/* Counters of volume `name` from kite-dpu's stats text ({"reads": N, ...}), or NULL. */
static cJSON *vol_stats(struct dpu *d, const char *name)
{
	cJSON *q = cJSON_CreateObject(), *rep = NULL, *o = NULL;
	const char *text;
	char err[256], label[KD_NAME_MAX + 32];

	cJSON_AddStringToObject(q, "cmd", "stats");
	snprintf(label, sizeof(label), "{volume=\"%s\"} ", name);
	if (dpu_req(d, q, &rep, err, sizeof(err)) == DPU_OK && (text = dpu_str(rep, "stats"))) {
		o = cJSON_CreateObject();
		for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
			const char *brace = strchr(l, '{'), *nl = strchr(l, '\n');
			char metric[64];

			if (strncmp(l, "kite_dpu_blk_", 13) || !brace || (nl && brace > nl) ||
			    strncmp(brace, label, strlen(label)) || (size_t)(brace - l - 13) >= sizeof(metric))
				continue;
			memcpy(metric, l + 13, (size_t)(brace - l - 13));
			metric[brace - l - 13] = '\0';
			cJSON_AddNumberToObject(o, metric, strtod(brace + strlen(label), NULL));
		}
	}
	cJSON_Delete(q);
	cJSON_Delete(rep);
	return o;
}

static void create_vol(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	const cJSON *b = req->body, *size = dpu_item(b, "size_mib");
	const char *name = dpu_str(b, "name"), *image = dpu_str(b, "image");
	char err[256], path[KD_PATH_MAX], sock[KD_PATH_MAX];
	unsigned long long bytes = 0;
	bool made = false;
	struct dpu *d;
	cJSON *rec;

	if (!create_ok(b, "volume", vol_fields, sizeof(vol_fields) / sizeof(vol_fields[0]), rep))
		return;
	if (!size == !image) {
		kd_reply_error(rep, 400, "volume %s: give \"size_mib\" or \"image\", one of them", name);
		return;
	}
	if (size && (size->valuedouble < 1 || size->valuedouble > MAX_SIZE_MIB)) {
		kd_reply_error(rep, 400, "volume %s: size_mib must be 1..%u", name, MAX_SIZE_MIB);
		return;
	}
	d = op_create(kd, name, false, sock, sizeof(sock), rep);
	if (!d)
		return;
	if (image) {
		if (image_path(d, name, image, path, sizeof(path), &bytes, err, sizeof(err)) < 0) {
			kd_reply_error(rep, 400, "%s", err);
			goto out;
		}
	} else {
		if (snprintf(path, sizeof(path), "%s/%s.img", d->img_dir, name) >= (int)sizeof(path)) {
			kd_reply_error(rep, 400, "volume %s: image path too long", name);
			goto out;
		}
		if (access(path, F_OK) == 0) {
			kd_reply_error(rep, 409, "volume %s: image %s exists (give it as \"image\")", name, path);
			goto out;
		}
		bytes = (unsigned long long)size->valuedouble << 20;
		if (dpu_image_create(path, bytes >> 20, err, sizeof(err)) < 0) {
			kd_reply_error(rep, 500, "volume %s: %s", name, err);
			goto out;
		}
		made = true;
	}
	rec = dpu_vol_rec(name, path, sock, bytes >> 20, cJSON_IsTrue(dpu_item(b, "readonly")),
			  cJSON_GetNumberValue(dpu_item(b, "iops")) > 0 ? cJSON_GetNumberValue(dpu_item(b, "iops")) : 0,
			  cJSON_GetNumberValue(dpu_item(b, "bps")) > 0 ? cJSON_GetNumberValue(dpu_item(b, "bps")) : 0, NULL, false);
	if (!add_rec(d, rec, false, rep) && made)
		unlink(path);
out:
	pthread_mutex_unlock(&d->op);
}

static void get_vol(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	get_rec(kd, req, rep, false);
}

static void patch_vol(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	static const struct kd_field fields[] = { { "iops", KD_F_UINT }, { "bps", KD_F_UINT }, { "size_mib", KD_F_UINT } };
	const char *name = req->params[0];
	const cJSON *b = req->body, *size = dpu_item(b, "size_mib");
	char err[256];
	struct dpu *d;
	cJSON *rec, *q;
	int r;

	if (kd_body_check(b, name, fields, 3, err, sizeof(err)) < 0) {
		kd_reply_error(rep, 400, "%s", err);
		return;
	}
	if (size && size->valuedouble > MAX_SIZE_MIB) {
		kd_reply_error(rep, 400, "volume %s: size_mib must be at most %u", name, MAX_SIZE_MIB);
		return;
	}
	rec = op_find(kd, name, false, rep, &d);
	if (!rec)
		return;
	if (size && size->valuedouble < cJSON_GetNumberValue(dpu_item(rec, "size_mib"))) {
		kd_reply_error(rep, 400, "volume %s: size_mib %.0f is smaller than %.0f (grow only)", name,
			       size->valuedouble, cJSON_GetNumberValue(dpu_item(rec, "size_mib")));
		goto out;
	}
	if (size && size->valuedouble > cJSON_GetNumberValue(dpu_item(rec, "size_mib"))) {
		q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "cmd", "volume_resize");
		cJSON_AddStringToObject(q, "name", name);
		cJSON_AddNumberToObject(q, "size", size->valuedouble * 1048576.0);
		r = dpu_req(d, q, NULL, err, sizeof(err));
		cJSON_Delete(q);
		if (r != DPU_OK) {
			kd_reply_error(rep, http_of(r), "volume %s: %s", name, err);
			goto out;
		}
		cJSON_ReplaceItemInObjectCaseSensitive(rec, "size_mib", cJSON_CreateNumber(size->valuedouble));
		dpu_res_save(d);
	}
	if (dpu_item(b, "iops") || dpu_item(b, "bps")) {
		double iops = dpu_item(b, "iops") ? dpu_item(b, "iops")->valuedouble : cJSON_GetNumberValue(dpu_item(rec, "iops"));
		double bps = dpu_item(b, "bps") ? dpu_item(b, "bps")->valuedouble : cJSON_GetNumberValue(dpu_item(rec, "bps"));

		q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "cmd", "set_qos");
		cJSON_AddStringToObject(q, "name", name);
		cJSON_AddNumberToObject(q, "iops", iops);
		cJSON_AddNumberToObject(q, "bps", bps);
		r = dpu_req(d, q, NULL, err, sizeof(err));
		cJSON_Delete(q);
		if (r != DPU_OK) {
			kd_reply_error(rep, http_of(r), "volume %s: %s", name, err);
			goto out;
		}
		cJSON_ReplaceItemInObjectCaseSensitive(rec, "iops", cJSON_CreateNumber(iops));
		cJSON_ReplaceItemInObjectCaseSensitive(rec, "bps", cJSON_CreateNumber(bps));
		dpu_res_save(d);
	}
	kd_reply_json(rep, 200, cJSON_Duplicate(rec, true));
out:
	pthread_mutex_unlock(&d->op);
}

static void delete_vol(struct kited *kd, struct kd_req *req, struct kd_reply *rep)
{
	const char *name = req->params[0], *keep = kd_query(req, "keep_image");
	char image[KD_PATH_MAX] = "";

	if (keep && strcmp(keep, "true") && strcmp(keep, "false")) {
		kd_reply_error(rep, 400, "volume %s: keep_image is true or false", name);
		return;
	}
	delete_rec(kd, name, false, rep, image, sizeof(image));
	if (rep->status == 204 && (!keep || strcmp(keep, "true")) && image[0] && unlink(image) < 0 && errno != ENOENT)
		log_warn("volume %s: removing its image %s: %s", name, image, strerror(errno));
}

const struct kd_route kd_dpu_routes[] = {
	{ "GET", "/dpu", get_dpu },
	{ "GET", "/dpu/ports", list_ports },
	{ "POST", "/dpu/ports", create_port },
	{ "GET", "/dpu/ports/{}", get_port },
	{ "PATCH", "/dpu/ports/{}", patch_port },
	{ "DELETE", "/dpu/ports/{}", delete_port },
	{ "POST", "/dpu/ports/{}/acl", add_acl },
	{ "DELETE", "/dpu/ports/{}/acl/{}", clear_acl },
	{ "DELETE", "/dpu/ports/{}/acl/{}/{}", del_acl },
	{ "GET", "/dpu/volumes", list_vols },
	{ "POST", "/dpu/volumes", create_vol },
	{ "GET", "/dpu/volumes/{}", get_vol },
	{ "PATCH", "/dpu/volumes/{}", patch_vol },
	{ "DELETE", "/dpu/volumes/{}", delete_vol },
	{ NULL, NULL, NULL },
};
