/* service.c — start-up common to every service (see service.h). */
#include "service.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

volatile sig_atomic_t of_stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    of_stop_requested = 1;
}

int of_service_init(const char *name, int argc, char **argv, of_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help-config") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("%s: configuration comes from the environment:\n", name);
            of_config_print_help();
            return 0;
        }
    }
    of_log_init(name, OF_LOG_INFO);
    of_error err;
    if (of_config_load(cfg, &err)) {
        of_err("bad configuration: %s", err.msg);
        return 1;
    }
    of_log_level lvl = OF_LOG_INFO;
    (void)of_log_level_parse(cfg->log_level, &lvl);
    of_log_init(name, lvl);
    of_config_log(cfg);
    /* librdkafka's threads would each get a malloc arena of their own; two keep the
     * resident size small at no measurable cost in throughput */
    mallopt(M_ARENA_MAX, 2);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}
