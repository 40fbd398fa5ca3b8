/* replay_cmd.h — `orderflow-admin replay`: republishes dead letters (common/replay.c). */
#ifndef ADMIN_REPLAY_CMD_H
#define ADMIN_REPLAY_CMD_H

#include "config.h"

/* orderflow-admin replay [--source S] [--type T] [--ids 1,2] [--all]; argv[1] is "replay".
 * Exit status: 0 done (skipped letters are listed), 1 failure, 2 bad usage. */
int admin_replay(const of_config *cfg, int argc, char **argv);

#endif
