/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scope-bound release of memory and file descriptors.  Declare at the top of
 * a function, initialised (NULL / -1), so no goto jumps over them:
 *
 *	sp_autofree char *path = NULL;
 *	sp_autoclose int fd = -1;
 *
 * Hand ownership out with sp_steal_ptr() / sp_steal_fd().
 */
#ifndef SP_UTIL_CLEANUP_H
#define SP_UTIL_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sp_freep(void *p)
{
	free(*(void **)p);
}

static inline void sp_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define sp_autofree __attribute__((cleanup(sp_freep)))
#define sp_autoclose __attribute__((cleanup(sp_closep)))

/* sp_autoptr(sp_chunk_store) struct sp_chunk_store *s = NULL; calls
 * sp_chunk_store_freep(&s).  Define the helper with SP_DEFINE_AUTOPTR. */
#define sp_autoptr(type) __attribute__((cleanup(type##_freep)))
#define SP_DEFINE_AUTOPTR(type, freefn)                                        \
	static inline void type##_freep(struct type **p)                       \
	{                                                                      \
		if (*p)                                                        \
			freefn(*p);                                            \
	}

static inline void *sp_steal_ptr_impl(void **p)
{
	void *v = *p;
	*p = NULL;
	return v;
}
#define sp_steal_ptr(pp) sp_steal_ptr_impl((void **)(pp))

static inline int sp_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define SP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
