/* SPDX-License-Identifier: MIT */
/*
 * The command queue between the API thread and the owner of the VM's state. The API thread
 * queues a parsed command and sleeps on its completion; the owner's loop sees the eventfd, runs
 * every queued command (api_exec) and completes each. Once closed (the owner is done), queued and
 * later commands complete at once with a 400 saying so.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api_queue.h"
#include "kite/log.h"

struct api_job {
	const struct api_cmd *cmd;
	struct api_reply *reply;
	bool done;
	struct api_job *next;
};

struct api_queue {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int efd;
	bool closed;
	struct api_job *head, **tail;
};

struct api_queue *api_queue_new(void)
{
	struct api_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		log_err("api: command queue eventfd: %m");
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->done_cond, NULL);
	q->tail = &q->head;
	return q;
}

void api_queue_free(struct api_queue *q)
{
	if (!q)
		return;
	close(q->efd);
	pthread_cond_destroy(&q->done_cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int api_queue_fd(const struct api_queue *q)
{
	return q->efd;
}

static void closed_reply(struct api_reply *reply)
{
	api_reply_fault(reply, "The microVM is shutting down.");
}

void api_queue_call(struct api_queue *q, const struct api_cmd *cmd, struct api_reply *reply)
{
	struct api_job job = { .cmd = cmd, .reply = reply };
	uint64_t one = 1;
	ssize_t r;

	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		closed_reply(reply);
		return;
	}
	*q->tail = &job;
	q->tail = &job.next;
	r = write(q->efd, &one, sizeof(one));
	(void)r;
	while (!job.done)
		pthread_cond_wait(&q->done_cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
}

void api_queue_serve(struct api_queue *q, struct vmm_control *ctl)
{
	uint64_t n;
	ssize_t r = read(q->efd, &n, sizeof(n));

	(void)r;
	for (;;) {
		struct api_job *job;

		pthread_mutex_lock(&q->lock);
		job = q->head;
		if (job) {
			q->head = job->next;
			if (!q->head)
				q->tail = &q->head;
		}
		pthread_mutex_unlock(&q->lock);
		if (!job)
			return;
		/* unlocked: the command may take long (InstanceStart, pause) */
		api_exec(ctl, job->cmd, job->reply);
		pthread_mutex_lock(&q->lock);
		job->done = true;
		pthread_cond_broadcast(&q->done_cond);
		pthread_mutex_unlock(&q->lock);
	}
}

void api_queue_close(struct api_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	while (q->head) {
		struct api_job *job = q->head;

		q->head = job->next;
		closed_reply(job->reply);
		job->done = true;
	}
	q->tail = &q->head;
	pthread_cond_broadcast(&q->done_cond);
	pthread_mutex_unlock(&q->lock);
}
