/* Ownership helpers shared by every part: cleanup attributes and
 * TAKE_PTR/TAKE_FD to hand ownership on. */
#ifndef BW_MACRO_H
#define BW_MACRO_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)	__attribute__((cleanup(f)))
#define _unused_	__attribute__((unused))
#define _printf_(a, b)	__attribute__((format(printf, a, b)))
#define _noreturn_	__attribute__((noreturn))

#define ELEMENTSOF(x)	(sizeof(x) / sizeof((x)[0]))

static inline void
freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_	_cleanup_(freep)

/* Closes a descriptor preserving errno, so cleanup never hides the
 * error that made the caller leave. */
static inline void
closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_	_cleanup_(closep)

#define TAKE_PTR(p) ({			\
	__typeof__(p) _p_ = (p);	\
	(p) = NULL;			\
	_p_;				\
})

#define TAKE_FD(fd) ({			\
	int _fd_ = (fd);		\
	(fd) = -1;			\
	_fd_;				\
})

/* Declares a pointer-to-pointer destructor for a type with a
 * NULL-accepting free function. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)	\
	static inline void func##p(type *p)	\
	{					\
		if (*p)				\
			func(*p);		\
	}

#endif
