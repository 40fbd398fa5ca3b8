/* sweeper — watches every deadline (SPEC T3: M3, T1 …) and delivers alerts (webhook and
 * ops.alerts). main() only wires: configuration, libcurl, then the sweep loop. */
#include <curl/curl.h>

#include "log.h"
#include "service.h"
#include "sweeper.h"

int main(int argc, char **argv)
{
    of_config cfg;
    int rc = of_service_init("sweeper", argc, argv, &cfg);
    if (rc || argc > 1)
        return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    of_error err;
    rc = sweeper_run(&cfg, &of_stop_requested, &err);
    if (rc)
        of_err("%s", err.msg);
    curl_global_cleanup();
    return rc ? 1 : 0;
}
