/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A bounded blocking queue of pointers, the joint of every job pipeline:
 * a producer blocks when it is full (so memory stays bounded), consumers
 * block when it is empty, and close() lets consumers drain and stop.
 */
#ifndef SP_JOB_WORKQ_H
#define SP_JOB_WORKQ_H

#include <stdbool.h>
#include <stddef.h>

struct sp_workq;

struct sp_workq *sp_workq_new(size_t capacity);
void sp_workq_free(struct sp_workq *q);
/* Blocks while full.  Returns false (item not queued) once closed. */
bool sp_workq_push(struct sp_workq *q, void *item);
/* Blocks while empty and open.  NULL once closed and drained. */
void *sp_workq_pop(struct sp_workq *q);
void sp_workq_close(struct sp_workq *q);

#endif
