/* SPDX-License-Identifier: MIT */
/* The error reply every failure becomes: 400 {"fault_message": "..."}. Pure, any thread. */
#include <cjson/cJSON.h>

#include "api_internal.h"

void api_reply_fault(struct api_reply *reply, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	reply->status = 400;
	reply->text = false;
	reply->body = NULL;
	if (o && cJSON_AddStringToObject(o, "fault_message", msg))
		reply->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}
