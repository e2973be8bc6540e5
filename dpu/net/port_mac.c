/* SPDX-License-Identifier: MIT */
/* MAC addresses derived from port names (see port_mac.h). */
#include <string.h>

#include "port_mac.h"

void port_name_mac(const char *name, uint8_t kind, uint8_t mac[6])
{
	uint32_t hash = 2166136261u;

	for (const char *c = name; *c; c++)
		hash = (hash ^ (uint8_t)*c) * 16777619u;
	mac[0] = 0x02;   /* locally administered, unicast */
	mac[1] = kind;
	mac[2] = (uint8_t)hash;
	mac[3] = (uint8_t)(hash >> 8);
	mac[4] = (uint8_t)(hash >> 16);
	mac[5] = (uint8_t)(hash >> 24);
}
