/* SPDX-License-Identifier: MIT */
/*
 * The command queue (api/queue.c): api_queue_call() from the API thread blocks until the owner
 * ran the command; the owner watches api_queue_fd() and calls api_queue_serve() on its thread.
 * api_queue_close() (owner, when it stops serving) completes what is queued with a 400.
 */
#ifndef KITE_API_QUEUE_H
#define KITE_API_QUEUE_H

#include "api_internal.h"

struct api_queue;

struct api_queue *api_queue_new(void);
void api_queue_free(struct api_queue *q);
int api_queue_fd(const struct api_queue *q);
void api_queue_call(struct api_queue *q, const struct api_cmd *cmd, struct api_reply *reply);
void api_queue_serve(struct api_queue *q, struct vmm_control *ctl);
void api_queue_close(struct api_queue *q);

#endif
