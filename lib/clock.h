/* The monotonic clock, for intervals and deadlines (never for record
 * times: those are CLOCK_REALTIME). */
#ifndef BW_CLOCK_H
#define BW_CLOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t
bw_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Signed, so that a deadline minus now may go below zero. */
static inline int64_t
bw_mono_ms(void)
{
	return (int64_t)(bw_mono_ns() / 1000000u);
}

/* Seconds on the monotonic clock, for measured durations. */
static inline double
bw_mono_s(void)
{
	return (double)bw_mono_ns() / 1e9;
}

/* The monotonic instant AT_NS (a bw_mono_ns() value) as the absolute
 * time pthread_cond_timedwait() takes on a bw_cond_init_mono() cv. */
static inline struct timespec
bw_mono_timespec(uint64_t at_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(at_ns / 1000000000u),
		.tv_nsec = (long)(at_ns % 1000000000u),
	};

	return ts;
}

/* The deadline NS nanoseconds from now, for a bw_cond_init_mono() cv. */
static inline struct timespec
bw_mono_deadline(uint64_t ns)
{
	return bw_mono_timespec(bw_mono_ns() + ns);
}

/* Initialises CV so that its timed waits count on CLOCK_MONOTONIC: a
 * step of the wall clock (NTP, an administrator) neither cuts a wait
 * short nor stretches it. Returns 0 or -errno. */
static inline int
bw_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t	ca;
	int			r;

	if ((r = pthread_condattr_init(&ca)) != 0)
		return -r;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return -r;
}

#endif
