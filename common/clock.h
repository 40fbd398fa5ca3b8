/* clock.h — the clocks the services read: monotonic time for timeouts, intervals and
 * durations, wall-clock time where a moment is compared with another process's, and a
 * sleep. One definition instead of a helper per file. */
#ifndef OF_CLOCK_H
#define OF_CLOCK_H

#include <stdint.h>

int64_t of_mono_ms(void); /* CLOCK_MONOTONIC, milliseconds */
int64_t of_mono_us(void); /* CLOCK_MONOTONIC, microseconds */
int64_t of_wall_ms(void); /* CLOCK_REALTIME, milliseconds since the epoch */
void of_sleep_ms(int64_t ms);

#endif
