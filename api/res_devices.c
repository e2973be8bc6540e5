/* SPDX-License-Identifier: MIT */
/*
 * PUT/PATCH /drives/{id} and /network-interfaces/{id}. kite extensions: "transport" on both: "mmio"
 * (Firecracker's, kite's default here) or "pci"; "socket" on an interface: vhost-user-net on that
 * backend socket instead of a TAP (as Firecracker's drives have "socket" for vhost-user-blk);
 * "queues" on an interface: its queue pairs (1..8, multiqueue; a TAP must then be multi_queue).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engines[] = { "Sync", "Async", NULL };
static const char *const transports[] = { "mmio", "pci", NULL };

static enum vmm_transport transport(const cJSON *o)
{
	int t = api_enum(o, "transport", transports);

	return t == 1 ? VMM_TRANSPORT_PCI : t == 0 ? VMM_TRANSPORT_MMIO : VMM_TRANSPORT_DEFAULT;
}

int res_parse_drive(const char *body, size_t len, const char *id, bool patch, struct api_cmd *cmd, char *err,
		    size_t errlen)
{
	static const struct api_field put_f[] = {
		{ "drive_id", F_STR, true, 0, NULL, NULL },
		{ "partuuid", F_STR, false, 0, NULL, NULL },
		{ "is_root_device", F_BOOL, true, 0, NULL, NULL },
		{ "cache_type", F_ENUM, false, 0, cache_types, NULL },
		{ "is_read_only", F_BOOL, false, 0, NULL, NULL },
		{ "path_on_host", F_STR, false, 0, NULL, NULL },
		{ "rate_limiter", F_LIMITER, false, 0, NULL, NULL },
		{ "io_engine", F_ENUM, false, 0, io_engines, NULL },
		{ "socket", F_STR, false, 0, NULL, NULL },
		{ "transport", F_ENUM, false, 0, transports, NULL },   /* kite extension */
	};
	static const struct api_field patch_f[] = {
		{ "drive_id", F_STR, true, 0, NULL, NULL },
		{ "path_on_host", F_STR, false, 0, NULL, NULL },
		{ "rate_limiter", F_LIMITER, false, 0, NULL, NULL },
	};
	struct vmm_drive *d = &cmd->u.drive;

	cmd->json = patch ? api_body_object(body, len, "BlockDeviceUpdateConfig", patch_f, 3, err, errlen)
			  : api_body_object(body, len, "BlockDeviceConfig", put_f, 10, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = patch ? API_PATCH_DRIVE : API_PUT_DRIVE;
	memset(d, 0, sizeof(*d));
	d->drive_id = api_str(cmd->json, "drive_id");
	if (strcmp(id, d->drive_id)) {
		snprintf(err, errlen, "The id from the path does not match the id from the body!");
		return -1;
	}
	d->path_on_host = api_str(cmd->json, "path_on_host");
	d->socket = api_str(cmd->json, "socket");
	d->partuuid = api_str(cmd->json, "partuuid");
	d->is_root_device = api_bool(cmd->json, "is_root_device", false);
	d->is_read_only = api_bool(cmd->json, "is_read_only", false);
	d->cache_writeback = api_enum(cmd->json, "cache_type", cache_types) == 1;
	d->io_async = api_enum(cmd->json, "io_engine", io_engines) == 1;
	api_limiter(cmd->json, "rate_limiter", &d->rate_limiter);
	d->transport = transport(cmd->json);
	if (!patch && d->socket && (d->path_on_host || api_has(cmd->json, "is_read_only") ||
				    api_has(cmd->json, "io_engine") || d->rate_limiter.set)) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: a vhost-user "
			 "drive (socket) takes none of path_on_host, is_read_only, io_engine, rate_limiter.");
		return -1;
	}
	if (!patch && !d->socket && !d->path_on_host) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: missing field "
			 "`path_on_host`.");
		return -1;
	}
	return 0;
}

int res_parse_net(const char *body, size_t len, const char *id, bool patch, struct api_cmd *cmd, char *err,
		  size_t errlen)
{
	static const struct api_field put_f[] = {
		{ "iface_id", F_STR, true, 0, NULL, NULL },
		{ "host_dev_name", F_STR, false, 0, NULL, NULL },   /* required unless socket */
		{ "guest_mac", F_STR, false, 0, NULL, NULL },
		{ "mtu", F_UINT, false, 65535, NULL, "u16" },
		{ "rx_rate_limiter", F_LIMITER, false, 0, NULL, NULL },
		{ "tx_rate_limiter", F_LIMITER, false, 0, NULL, NULL },
		{ "transport", F_ENUM, false, 0, transports, NULL },   /* kite extension */
		{ "socket", F_STR, false, 0, NULL, NULL },             /* kite extension: vhost-user-net */
		{ "queues", F_UINT, false, 8, NULL, "u8 (1..8)" },     /* kite extension: queue pairs */
	};
	static const struct api_field patch_f[] = {
		{ "iface_id", F_STR, true, 0, NULL, NULL },
		{ "rx_rate_limiter", F_LIMITER, false, 0, NULL, NULL },
		{ "tx_rate_limiter", F_LIMITER, false, 0, NULL, NULL },
	};
	struct vmm_net *n = &cmd->u.net;

	cmd->json = patch ? api_body_object(body, len, "NetworkInterfaceUpdateConfig", patch_f, 3, err, errlen)
			  : api_body_object(body, len, "NetworkInterfaceConfig", put_f, 9, err, errlen);
	if (!cmd->json)
		return -1;
	cmd->op = patch ? API_PATCH_NET : API_PUT_NET;
	memset(n, 0, sizeof(*n));
	n->iface_id = api_str(cmd->json, "iface_id");
	if (strcmp(id, n->iface_id)) {
		snprintf(err, errlen, "The id from the path [%.128s] does not match the id from the body [%.128s]!", id,
			 n->iface_id);
		return -1;
	}
	n->host_dev_name = api_str(cmd->json, "host_dev_name");
	n->socket = api_str(cmd->json, "socket");
	if (!patch && !n->socket == !n->host_dev_name) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: %s",
			 n->socket ? "a vhost-user interface (socket) takes no host_dev_name." : "missing field `host_dev_name`.");
		return -1;
	}
	if (!patch && n->socket && (api_has(cmd->json, "rx_rate_limiter") || api_has(cmd->json, "tx_rate_limiter"))) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: a vhost-user "
			 "interface (socket) takes no rate limiters (its backend owns the data path).");
		return -1;
	}
	n->guest_mac = api_str(cmd->json, "guest_mac");
	n->mtu = (unsigned)api_uint(cmd->json, "mtu", 0);
	if (api_has(cmd->json, "mtu") && n->mtu < 68) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: mtu %u is "
			 "below 68.", n->mtu);
		return -1;
	}
	n->queues = (unsigned)api_uint(cmd->json, "queues", 0);
	if (api_has(cmd->json, "queues") && n->queues < 1) {
		snprintf(err, errlen, "An error occurred when deserializing the json body of a request: queues 0 is "
			 "below 1.");
		return -1;
	}
	api_limiter(cmd->json, "rx_rate_limiter", &n->rx_rate_limiter);
	api_limiter(cmd->json, "tx_rate_limiter", &n->tx_rate_limiter);
	n->transport = transport(cmd->json);
	return 0;
}
