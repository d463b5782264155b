/* The monotonic clock, for intervals and deadlines (never for record
 * times: those are CLOCK_REALTIME). */
#ifndef BW_CLOCK_H
#define BW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
bw_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
bw_mono_ms(void)
{
	return bw_mono_ns() / 1000000u;
}

#endif
