/* clock.c — the clocks the services read (see clock.h). */
#include "clock.h"

#include <time.h>

static int64_t read_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t of_mono_ms(void)
{
    return read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t of_mono_us(void)
{
    return read_us(CLOCK_MONOTONIC);
}

int64_t of_wall_ms(void)
{
    return read_us(CLOCK_REALTIME) / 1000;
}

void of_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
