/* service.h — what every service's main() does first: read the configuration (config.h),
 * set up logging, answer --help-config, and install SIGTERM/SIGINT handlers that only set a
 * flag the main loop watches. */
#ifndef OF_SERVICE_H
#define OF_SERVICE_H

#include <signal.h>

#include "config.h"

extern volatile sig_atomic_t of_stop_requested;

/* Returns 0 to go on, or an exit code (1 on a bad configuration, 0 after --help-config). */
int of_service_init(const char *name, int argc, char **argv, of_config *cfg);

#endif
