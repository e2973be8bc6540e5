/* SPDX-License-Identifier: MIT */
/*
 * The switch ports and volumes kited made on kite-dpu, the records of them (DIR/dpu/ports.json,
 * volumes.json, written atomically after every change) and the operations on them, shared by the
 * /dpu routes (dpu_routes.c), the VMs' starts and ends (dpu_vm_acquire / dpu_vm_release) and the
 * re-apply after a kite-dpu restart (dpu_res_apply). Every function here runs with d->op held.
 *
 * A port record: {"name", "type": "vhost"|"tap", "socket" (vhost: DIR/dpu/sockets/port-NAME.sock)
 * or "tap" (the interface), "vlan" (1..4094), "mtu", "rate_pps", "rate_bps", "acl_in": [rules],
 * "acl_out": [rules], "vm": the VM it was made for or null}.
 * A volume record: {"name", "image" (in DIR/volumes), "socket" (DIR/dpu/sockets/vol-NAME.sock),
 * "size_mib", "readonly", "iops", "bps", "vm": the VM whose own disk it is or null, "ephemeral"}.
 * Owners of kite-dpu's vhost-user sockets (made root's, 0600, by kite-dpu): when kited runs as root,
 * the port and volume sockets a jailed VM uses while it runs are given to that VM's own uid:gid (its
 * kite connects as that uid); every other socket is root's, so no jailed kite can reach another VM's
 * port or volume, or a user volume no VM uses. Set after every port_add / add_volume (so after a
 * kite-dpu restart too), for every record at each re-apply, when a VM gets its resources
 * (dpu_vm_acquire) and when it gives them back (dpu_vm_release).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kite/log.h"
#include "dpu.h"
#include "state.h"

cJSON *dpu_res_find(cJSON *table, const char *name)
{
	cJSON *r;

	cJSON_ArrayForEach(r, table) {
		const char *n = dpu_str(r, "name");
		if (n && !strcmp(n, name))
			return r;
	}
	return NULL;
}

void dpu_res_drop(cJSON *table, const char *name)
{
	cJSON *r = dpu_res_find(table, name);

	if (r)
		cJSON_Delete(cJSON_DetachItemViaPointer(table, r));
}

/* ---- the record files ---- */

static void table_path(const struct dpu *d, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", d->dir, file);
}

/* {"KEY": [records]} */
static int write_table(const char *path, const char *key, cJSON *table)
{
	char err[KD_PATH_MAX + 64];
	cJSON *o = cJSON_CreateObject();
	int r;

	cJSON_AddItemReferenceToObject(o, key, table);
	r = state_write_json(path, o, err, sizeof(err));
	if (r < 0)
		log_err("kite-dpu: %s", err);
	cJSON_Delete(o);
	return r;
}

int dpu_res_save(struct dpu *d)
{
	char path[KD_PATH_MAX + 16];
	int r = 0;

	table_path(d, "ports.json", path, sizeof(path));
	if (write_table(path, "ports", d->ports) < 0)
		r = -1;
	table_path(d, "volumes.json", path, sizeof(path));
	if (write_table(path, "volumes", d->vols) < 0)
		r = -1;
	return r;
}

static cJSON *load_table(const struct dpu *d, const char *file, const char *key)
{
	char path[KD_PATH_MAX + 16], why[KD_PATH_MAX + 64];
	cJSON *o, *t = NULL, *r, *next;

	table_path(d, file, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		o = state_read_json(path, why, sizeof(why));
		if (!o)
			log_err("kite-dpu: %s: starting without its records", why);
		t = cJSON_DetachItemFromObjectCaseSensitive(o, key);
		cJSON_Delete(o);
		if (o && !cJSON_IsArray(t)) {
			log_err("kite-dpu: %s has no array \"%s\": starting without its records", path, key);
			cJSON_Delete(t);
			t = NULL;
		}
	}
	if (!t)
		return cJSON_CreateArray();
	/* a record without a name or socket/image cannot be applied: dropped with a line */
	for (r = t->child; r; r = next) {
		next = r->next;
		if (!dpu_str(r, "name") || (!dpu_str(r, "socket") && !dpu_str(r, "tap"))) {
			log_err("kite-dpu: %s: dropping a record without a name or socket", path);
			cJSON_Delete(cJSON_DetachItemViaPointer(t, r));
		}
	}
	return t;
}

int dpu_res_load(struct dpu *d)
{
	dpu_res_free(d);
	d->ports = load_table(d, "ports.json", "ports");
	d->vols = load_table(d, "volumes.json", "volumes");
	return d->ports && d->vols ? 0 : -1;
}

void dpu_res_free(struct dpu *d)
{
	cJSON_Delete(d->ports);
	cJSON_Delete(d->vols);
	d->ports = d->vols = NULL;
}

/* ---- requests for one record ---- */

/* The uid a socket belongs to: the running jailed VM's that uses it, else root's. Takes kd->lock. */
static unsigned sock_owner(const struct dpu *d, const char *path)
{
	unsigned uid = 0;

	pthread_mutex_lock(&d->kd->lock);
	for (const struct vm *v = d->kd->vms; v && !uid; v = v->next)
		if (v->jailed && ((v->res.has_port && !strcmp(v->res.port_sock, path)) ||
				  (v->res.has_volume && !strcmp(v->res.volume_sock, path))))
			uid = v->uid;
	pthread_mutex_unlock(&d->kd->lock);
	return uid;
}

/* Gives the socket at `path` to its owner (sock_owner), uid and gid alike; a missing one is left. */
static void own_socket(const struct dpu *d, const char *path)
{
	unsigned uid;

	if (geteuid() != 0)
		return;
	uid = sock_owner(d, path);
	if (fchownat(AT_FDCWD, path, uid, uid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
		log_warn("kite-dpu: cannot give %s to uid %u: %s", path, uid, strerror(errno));
}

/* kite-dpu's request for a record ("port_add" or "add_volume"). */
static cJSON *add_req(const cJSON *rec, bool port)
{
	cJSON *q = cJSON_CreateObject();
	static const char *const port_keys[] = { "name", "type", "socket", "mtu", "rate_pps", "rate_bps", "acl_in",
						 "acl_out", NULL };
	static const char *const vol_keys[] = { "name", "image", "socket", "readonly", "iops", "bps", NULL };

	cJSON_AddStringToObject(q, "cmd", port ? "port_add" : "add_volume");
	for (const char *const *k = port ? port_keys : vol_keys; *k; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, *k);
		if (v && !cJSON_IsNull(v))
			cJSON_AddItemToObject(q, *k, cJSON_Duplicate(v, true));
	}
	if (port && dpu_str(rec, "tap"))
		cJSON_AddStringToObject(q, "ifname", dpu_str(rec, "tap"));
	if (port)
		cJSON_AddNumberToObject(q, "vlan", dpu_num(rec, "vlan") >= 1 ? dpu_num(rec, "vlan") : 1);
	return q;
}

/* Makes `rec` in kite-dpu: DPU_OK, DPU_REFUSED or DPU_UNAVAILABLE with err. */
int dpu_res_add(struct dpu *d, const cJSON *rec, bool port, char *err, size_t errlen)
{
	cJSON *q = add_req(rec, port);
	int r = dpu_req(d, q, NULL, err, errlen);

	cJSON_Delete(q);
	if (r == DPU_OK && dpu_str(rec, "socket"))
		own_socket(d, dpu_str(rec, "socket"));
	return r;
}

/* Removes `name` from kite-dpu (port_del / remove_volume). */
int dpu_res_remove(struct dpu *d, const char *name, bool port, char *err, size_t errlen)
{
	cJSON *q = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(q, "cmd", port ? "port_del" : "remove_volume");
	cJSON_AddStringToObject(q, "name", name);
	r = dpu_req(d, q, NULL, err, errlen);
	cJSON_Delete(q);
	return r;
}

/* ---- re-apply ---- */

/* The names kite-dpu holds: its ports (switch_stats) or volumes (list_volumes); NULL if it does not
 * answer. */
static cJSON *held(struct dpu *d, bool port)
{
	cJSON *q = cJSON_CreateObject(), *rep = NULL, *names = cJSON_CreateArray(), *list, *i;
	char err[256];

	cJSON_AddStringToObject(q, "cmd", port ? "switch_stats" : "list_volumes");
	if (dpu_req(d, q, &rep, err, sizeof(err)) != DPU_OK) {
		log_err("kite-dpu: %s: %s", port ? "switch_stats" : "list_volumes", err);
		cJSON_Delete(q);
		cJSON_Delete(names);
		return NULL;
	}
	cJSON_Delete(q);
	list = port ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rep, "switch"), "ports")
		    : cJSON_GetObjectItemCaseSensitive(rep, "volumes");
	cJSON_ArrayForEach(i, list) {
		const char *n = port ? dpu_str(i, "name") : cJSON_IsString(i) ? i->valuestring : NULL;
		if (n)
			cJSON_AddItemToArray(names, cJSON_CreateString(n));
	}
	cJSON_Delete(rep);
	return names;
}

static bool in_names(const cJSON *names, const char *name)
{
	const cJSON *i;

	cJSON_ArrayForEach(i, names)
		if (!strcmp(i->valuestring, name))
			return true;
	return false;
}

static int apply_table(struct dpu *d, cJSON *table, bool port)
{
	const char *what = port ? "port" : "volume";
	cJSON *names = held(d, port), *i, *rec;
	char err[256];
	int ret = 0;

	if (!names)
		return -1;
	/* what kite-dpu holds and kited never recorded (kited ended between the two) goes */
	cJSON_ArrayForEach(i, names) {
		if (dpu_res_find(table, i->valuestring))
			continue;
		log_info("kite-dpu: removing %s %s, which kited has no record of", what, i->valuestring);
		if (dpu_res_remove(d, i->valuestring, port, err, sizeof(err)) == DPU_UNAVAILABLE)
			ret = -1;
	}
	cJSON_ArrayForEach(rec, table) {
		const char *name = dpu_str(rec, "name");
		int r;

		if (ret < 0)
			continue;
		if (in_names(names, name)) {   /* kept by an adopted kite-dpu: its owner may have changed */
			if (dpu_str(rec, "socket"))
				own_socket(d, dpu_str(rec, "socket"));
			continue;
		}
		r = dpu_res_add(d, rec, port, err, sizeof(err));
		if (r == DPU_UNAVAILABLE)
			ret = -1;
		else if (r == DPU_REFUSED)
			log_err("kite-dpu: cannot re-apply %s %s: %s", what, name, err);
		else
			log_info("kite-dpu: %s %s re-applied", what, name);
	}
	cJSON_Delete(names);
	return ret;
}

int dpu_res_apply(struct dpu *d)
{
	/* volumes first: a VM's kite reconnects its disk and its NIC alike */
	if (apply_table(d, d->vols, false) < 0 || apply_table(d, d->ports, true) < 0)
		return -1;
	return 0;
}

/* ---- images ---- */

/* Creates a sparse image of size_mib at path (refused if it exists). 0, or -1 with err. */
int dpu_image_create(const char *path, unsigned long long size_mib, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "image %s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)(size_mib << 20)) < 0) {
		snprintf(err, errlen, "image %s: cannot size to %llu MiB: %s", path, size_mib, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* DIR/dpu/sockets/PREFIX-NAME.sock, or -1 with err if it does not fit a Unix socket address. */
int dpu_sock_path(const struct dpu *d, const char *prefix, const char *name, char *out, size_t len, char *err,
		  size_t errlen)
{
	struct sockaddr_un sa;
	int n = snprintf(out, len, "%s/%s-%s.sock", d->sock_dir, prefix, name);

	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s %s: socket path %s/%s-%s.sock longer than %zu bytes (a shorter state dir or name)",
			 prefix, name, d->sock_dir, prefix, name, sizeof(sa.sun_path) - 1);
		return -1;
	}
	return 0;
}

/* ---- the VMs' resources ---- */

static int status_of(int r)
{
	return r == DPU_UNAVAILABLE ? 503 : r == DPU_REFUSED ? 400 : 0;
}

/* The running VM, other than `self`, that uses port or volume `name` (kd->lock held), or NULL. */
const struct vm *dpu_res_user(const struct kited *kd, const char *name, bool port, const struct vm *self)
{
	for (const struct vm *v = kd->vms; v; v = v->next) {
		if (v == self)
			continue;
		if (port ? v->res.has_port && !strcmp(v->res.port, name)
			 : v->res.has_volume && !strcmp(v->res.volume, name))
			return v;
	}
	return NULL;
}

cJSON *dpu_port_rec(const char *name, const char *sock, unsigned vlan, const char *vm)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "type", "vhost");
	cJSON_AddStringToObject(p, "socket", sock);
	cJSON_AddNumberToObject(p, "vlan", vlan >= 1 ? vlan : 1);
	cJSON_AddNumberToObject(p, "mtu", 1500);
	cJSON_AddNumberToObject(p, "rate_pps", 0);
	cJSON_AddNumberToObject(p, "rate_bps", 0);
	cJSON_AddArrayToObject(p, "acl_in");
	cJSON_AddArrayToObject(p, "acl_out");
	if (vm)
		cJSON_AddStringToObject(p, "vm", vm);
	else
		cJSON_AddNullToObject(p, "vm");
	return p;
}

cJSON *dpu_vol_rec(const char *name, const char *image, const char *sock, unsigned long long size_mib,
		   bool readonly, double iops, double bps, const char *vm, bool ephemeral)
{
	cJSON *v = cJSON_CreateObject();

	cJSON_AddStringToObject(v, "name", name);
	cJSON_AddStringToObject(v, "image", image);
	cJSON_AddStringToObject(v, "socket", sock);
	cJSON_AddNumberToObject(v, "size_mib", (double)size_mib);
	cJSON_AddBoolToObject(v, "readonly", readonly);
	cJSON_AddNumberToObject(v, "iops", iops);
	cJSON_AddNumberToObject(v, "bps", bps);
	if (vm)
		cJSON_AddStringToObject(v, "vm", vm);
	else
		cJSON_AddNullToObject(v, "vm");
	cJSON_AddBoolToObject(v, "ephemeral", ephemeral);
	return v;
}

/* Adds `rec` to kite-dpu and to `table` (taking it); 0 or the HTTP status with err. */
static int make(struct dpu *d, cJSON *table, cJSON *rec, bool port, char *err, size_t errlen)
{
	int r = dpu_res_add(d, rec, port, err, errlen);

	if (r != DPU_OK) {
		cJSON_Delete(rec);
		return status_of(r);
	}
	cJSON_AddItemToArray(table, rec);
	return 0;
}

/* DIR/volumes/VM-disk.img (it fits: DPU_DIR_MAX and KD_NAME_MAX keep it short) */
static void own_disk_image(const struct dpu *d, const char *vm, char *out, size_t len)
{
	if (snprintf(out, len, "%s/%s-disk.img", d->img_dir, vm) >= (int)len)
		out[0] = '\0';
}

int dpu_vm_acquire(struct kited *kd, struct vm *vm, char *err, size_t errlen)
{
	struct dpu *d = kd->dpu;
	struct vm_res res = { 0 };
	struct vm_def def;
	char path[KD_PATH_MAX];
	const struct vm *user;
	int st = 0;

	if (!d) {
		snprintf(err, errlen, "kite-dpu is down");
		return -503;
	}
	pthread_mutex_lock(&d->op);
	pthread_mutex_lock(&kd->lock);
	def = vm->def;
	pthread_mutex_unlock(&kd->lock);
	if (def.net_in_kite)   /* backend "kite" devices are not kite-dpu's (vm_local.c) */
		def.net = false;
	if (def.disk_in_kite)
		def.disk = DISK_NONE;
	if ((def.net || def.disk != DISK_NONE) && d->state != DPU_RUNNING) {
		snprintf(err, errlen, "VM %s: kite-dpu is %s", def.name, d->state == DPU_DOWN ? "down" : "restarting");
		st = 503;
		goto out;
	}
	if (def.disk == DISK_OWN) {      /* checked before anything is made */
		char vol[KD_NAME_MAX + 8];
		const char *owner;

		snprintf(vol, sizeof(vol), "%s-disk", def.name);
		owner = dpu_str(dpu_res_find(d->vols, vol), "vm");
		if (dpu_res_find(d->vols, vol) && (!owner || strcmp(owner, def.name))) {
			snprintf(err, errlen, "VM %s: a volume named %s exists", def.name, vol);
			st = 409;
			goto out;
		}
	}
	if (def.disk == DISK_VOLUME) {
		cJSON *v = dpu_res_find(d->vols, def.disk_volume);

		if (!v || dpu_str(v, "vm")) {
			snprintf(err, errlen, "VM %s: no volume %s%s", def.name, def.disk_volume,
				 v ? " (it is another VM's disk)" : "");
			st = v ? 409 : 404;
			goto out;
		}
		pthread_mutex_lock(&kd->lock);
		user = dpu_res_user(kd, def.disk_volume, false, vm);
		if (user)
			snprintf(err, errlen, "VM %s: volume %s is in use by VM %s", def.name, def.disk_volume,
				 user->def.name);
		pthread_mutex_unlock(&kd->lock);
		if (user) {
			st = 409;
			goto out;
		}
		res.has_volume = true;
		snprintf(res.volume, sizeof(res.volume), "%s", def.disk_volume);
		snprintf(res.volume_sock, sizeof(res.volume_sock), "%s", dpu_str(v, "socket"));
	}
	if (def.net) {
		cJSON *old = dpu_res_find(d->ports, def.name);

		if (old && (!dpu_str(old, "vm") || strcmp(dpu_str(old, "vm"), def.name))) {
			snprintf(err, errlen, "VM %s: a port named %s exists", def.name, def.name);
			st = 409;
			goto out;
		}
		if (old) {   /* left by a start that did not finish: made again */
			dpu_res_remove(d, def.name, true, err, errlen);
			dpu_res_drop(d->ports, def.name);
		}
		if (dpu_sock_path(d, "port", def.name, res.port_sock, sizeof(res.port_sock), err, errlen) < 0) {
			st = 400;
			goto out;
		}
		st = make(d, d->ports, dpu_port_rec(def.name, res.port_sock, def.vlan, def.name), true, err, errlen);
		if (st) {
			snprintf(path, sizeof(path), "%s", err);
			snprintf(err, errlen, "VM %s: port: %s", def.name, path);
			goto out;
		}
		res.has_port = true;
		snprintf(res.port, sizeof(res.port), "%s", def.name);
	}
	if (def.disk == DISK_OWN) {
		char vol[KD_NAME_MAX + 8], why[256];
		struct stat sb;

		snprintf(vol, sizeof(vol), "%s-disk", def.name);
		own_disk_image(d, def.name, path, sizeof(path));
		if (dpu_res_find(d->vols, vol)) {   /* left by a start that did not finish: served again */
			dpu_res_remove(d, vol, false, why, sizeof(why));
			dpu_res_drop(d->vols, vol);
		}
		if (stat(path, &sb) < 0) {
			if (dpu_image_create(path, def.disk_size_mib, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "VM %s: disk: %s", def.name, why);
				st = 500;
				goto undo;
			}
			sb.st_size = (off_t)def.disk_size_mib << 20;
		}
		if (dpu_sock_path(d, "vol", vol, res.volume_sock, sizeof(res.volume_sock), err, errlen) < 0) {
			st = 400;
			goto undo;
		}
		st = make(d, d->vols, dpu_vol_rec(vol, path, res.volume_sock, (unsigned long long)sb.st_size >> 20, false,
						   0, 0, def.name, def.disk_ephemeral), false, why, sizeof(why));
		if (st) {
			snprintf(err, errlen, "VM %s: volume %s: %s", def.name, vol, why);
			goto undo;
		}
		res.has_volume = res.volume_served_for_vm = true;
		snprintf(res.volume, sizeof(res.volume), "%s", vol);
	}
	pthread_mutex_lock(&kd->lock);
	vm->res = res;
	pthread_mutex_unlock(&kd->lock);
	/* now the VM's: its port, its own disk's or the user volume's socket */
	if (res.has_port)
		own_socket(d, res.port_sock);
	if (res.has_volume)
		own_socket(d, res.volume_sock);
	dpu_res_save(d);
	goto out;
undo:
	if (res.has_port) {
		char why[256];

		dpu_res_remove(d, res.port, true, why, sizeof(why));
		dpu_res_drop(d->ports, res.port);
	}
	dpu_res_save(d);
out:
	pthread_mutex_unlock(&d->op);
	return -st;
}

void dpu_vm_release(struct kited *kd, struct vm *vm)
{
	struct dpu *d = kd->dpu;
	struct vm_res res;
	char why[256], path[KD_PATH_MAX], name[KD_NAME_MAX + 1];
	bool ephemeral;

	if (!d)
		return;
	pthread_mutex_lock(&d->op);
	pthread_mutex_lock(&kd->lock);
	res = vm->res;
	snprintf(name, sizeof(name), "%s", vm->def.name);
	ephemeral = vm->def.disk == DISK_OWN && vm->def.disk_ephemeral;
	pthread_mutex_unlock(&kd->lock);
	if (res.has_port) {
		if (d->state == DPU_RUNNING && dpu_res_remove(d, res.port, true, why, sizeof(why)) != DPU_OK)
			log_warn("VM %s: removing port %s: %s", name, res.port, why);
		dpu_res_drop(d->ports, res.port);
	}
	if (res.has_volume && res.volume_served_for_vm) {
		if (d->state == DPU_RUNNING && dpu_res_remove(d, res.volume, false, why, sizeof(why)) != DPU_OK)
			log_warn("VM %s: removing volume %s: %s", name, res.volume, why);
		dpu_res_drop(d->vols, res.volume);
	}
	if (ephemeral) {
		own_disk_image(d, name, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("VM %s: removing its ephemeral disk %s: %s", name, path, strerror(errno));
	}
	dpu_res_save(d);
	pthread_mutex_lock(&kd->lock);
	memset(&vm->res, 0, sizeof(vm->res));
	pthread_mutex_unlock(&kd->lock);
	if (res.has_volume && !res.volume_served_for_vm)
		own_socket(d, res.volume_sock);   /* a user volume's socket goes back to root */
	pthread_mutex_unlock(&d->op);
}

void dpu_vm_forget(struct kited *kd, struct vm *vm)
{
	char path[KD_PATH_MAX], name[KD_NAME_MAX + 1];
	bool own;

	dpu_vm_release(kd, vm);
	if (!kd->dpu)
		return;
	pthread_mutex_lock(&kd->lock);
	own = vm->def.disk == DISK_OWN;
	snprintf(name, sizeof(name), "%s", vm->def.name);
	pthread_mutex_unlock(&kd->lock);
	if (!own)
		return;
	own_disk_image(kd->dpu, name, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("VM %s: removing its disk %s: %s", name, path, strerror(errno));
}

char *dpu_stats_text(struct kited *kd)
{
	struct dpu *d = kd->dpu;
	cJSON *q, *rep = NULL;
	const char *s;
	char err[256], *text = NULL;

	if (!d)
		return NULL;
	q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "cmd", "stats");
	pthread_mutex_lock(&d->op);
	if (dpu_req(d, q, &rep, err, sizeof(err)) == DPU_OK && (s = dpu_str(rep, "stats")))
		text = strdup(s);
	pthread_mutex_unlock(&d->op);
	cJSON_Delete(q);
	cJSON_Delete(rep);
	return text;
}
