/* orderflow-admin — operator commands.
 *   orderflow-admin create-topics [--partitions N]   create the topics of SPEC §2 (idempotent)
 *   orderflow-admin staff NAME ROLE                   add or change a staff member's role
 *   orderflow-admin remittance-csv DAY                the day's 匯款銷售記錄表 as CSV (M7)
 *   orderflow-admin user NAME ROLE [--queues a,b]     a dashboard account (password on stdin)
 *   orderflow-admin replay [--source S] [--type T] [--ids 1,2] [--all]   republish dead letters */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"
#include "password.h"
#include "remittance_csv.h"
#include "replay_cmd.h"

static int create_topics(const of_config *cfg, int partitions)
{
    struct {
        const char *name;
        int partitions;
    } topics[] = {{OF_TOPIC_ORDERS, partitions},
                  {OF_TOPIC_RECHARGES, partitions},
                  {OF_TOPIC_REMITTANCES, partitions},
                  {OF_TOPIC_DEADLETTER, partitions},
                  {OF_TOPIC_ALERTS, 1}};
    enum { NT = sizeof topics / sizeof topics[0] };
    of_error err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, NULL, &err);
    if (!conf) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "cannot create a Kafka client: %s\n", errstr);
        return 1;
    }
    rd_kafka_NewTopic_t *nt[NT];
    for (int i = 0; i < NT; i++) {
        nt[i] =
            rd_kafka_NewTopic_new(topics[i].name, topics[i].partitions, 1, errstr, sizeof errstr);
        if (strcmp(topics[i].name, OF_TOPIC_DEADLETTER) == 0)
            rd_kafka_NewTopic_set_config(nt[i], "max.message.bytes", "2097152");
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, nt, NT, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "create-topics failed: %s\n",
                ev ? rd_kafka_event_error_string(ev) : "no answer from Kafka within 60 s");
        rc = 1;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            const char *name = rd_kafka_topic_result_name(res[i]);
            if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                printf("topic %s exists\n", name);
            else if (e) {
                fprintf(stderr, "topic %s: %s\n", name, rd_kafka_topic_result_error_string(res[i]));
                rc = 1;
            } else
                printf("topic %s created\n", name);
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy_array(nt, NT);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static of_db *connect_db(const of_config *cfg)
{
    of_db *db = of_db_new(cfg->database_url, cfg->db_statement_timeout_ms, "orderflow-admin");
    of_error err;
    if (!db || of_db_ensure(db, &err)) {
        fprintf(stderr, "%s\n", db ? err.msg : "out of memory");
        of_db_free(db);
        return NULL;
    }
    return db;
}

static int staff(const of_config *cfg, const char *name, const char *role)
{
    of_db *db = connect_db(cfg);
    if (!db)
        return 1;
    const char *p[] = {name, role};
    of_error err;
    int rc = of_db_run(db,
                       "INSERT INTO staff (name, role) VALUES ($1, $2) ON CONFLICT (name) DO "
                       "UPDATE SET role = EXCLUDED.role, updated_at = now()",
                       2, p, &err);
    if (rc)
        fprintf(stderr,
                "%s\n(roles: staff, assistant, supervisor, operations, relister, "
                "registrar)\n",
                err.msg);
    else
        printf("%s is %s\n", name, role);
    of_db_free(db);
    return rc ? 1 : 0;
}

/* M7: the day's record as CSV on stdout (common/remittance_csv.c, shared with the
 * dashboard's download). */
static int remittance_csv(const of_config *cfg, const char *day)
{
    of_db *db = connect_db(cfg);
    if (!db)
        return 1;
    of_error err;
    size_t len = 0;
    char *csv = of_remittance_csv(of_db_conn(db), day, cfg->shop_tz, &len, &err);
    of_db_free(db);
    if (!csv) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fwrite(csv, 1, len, stdout);
    free(csv);
    return 0;
}

/* ---- user: a dashboard account (issue 6), added by the dashboard core ---- */

/* The queues a role works by default (tasks.assignee values besides the user's own name). */
static const char *default_queues(const char *role)
{
    if (strcmp(role, "staff") == 0)
        return "registrar,order_clerk,after_sales";
    if (strcmp(role, "assistant") == 0)
        return "assistant,relister";
    if (strcmp(role, "supervisor") == 0)
        return "registrar,order_clerk,after_sales,assistant,relister";
    return "";
}

/* orderflow-admin user NAME ROLE [--queues a,b]: creates or updates the account, with the
 * password from ORDERFLOW_PASSWORD or stdin's first line; also the staff roster row. */
static int user(const of_config *cfg, int argc, char **argv)
{
    const char *name = argv[2], *role = argv[3], *queues = NULL;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--queues") == 0 && i + 1 < argc) {
            queues = argv[++i];
        } else if (strcmp(argv[i], "--queues") == 0) {
            fprintf(stderr, "--queues needs a list (a,b; \"\" for none)\n");
            return 2;
        } else {
            fprintf(stderr, "unknown argument %s (usage: user NAME ROLE [--queues a,b])\n",
                    argv[i]);
            return 2;
        }
    }
    if (!*name || strlen(name) > 127) {
        fprintf(stderr, "NAME must be 1 to 127 bytes\n");
        return 2;
    }
    if (strcmp(role, "staff") != 0 && strcmp(role, "assistant") != 0 &&
        strcmp(role, "supervisor") != 0 && strcmp(role, "operations") != 0) {
        fprintf(stderr, "ROLE must be one of staff, assistant, supervisor, operations (got %s)\n",
                role);
        return 2;
    }
    if (!queues)
        queues = default_queues(role);
    for (const char *q = queues; *q; q++)
        if (*q == ' ' || *q == '"' || *q == '{' || *q == '}' || *q == '\\' ||
            (*q == ',' && (q == queues || q[1] == ',' || !q[1]))) {
            fprintf(stderr,
                    "--queues takes names separated by commas, e.g. registrar,after_sales\n");
            return 2;
        }
    char password[1100] = "";
    const char *env = getenv("ORDERFLOW_PASSWORD");
    if (env && *env)
        snprintf(password, sizeof password, "%s", env);
    else if (fgets(password, sizeof password, stdin))
        password[strcspn(password, "\r\n")] = '\0';
    if (!password[0]) {
        fprintf(stderr, "the password is empty: give it as the first line of stdin or in "
                        "ORDERFLOW_PASSWORD\n");
        return 2;
    }
    char hash[OF_PASSWORD_HASH_MAX];
    of_error err;
    if (of_password_hash(password, hash, sizeof hash, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    of_db *db = connect_db(cfg);
    if (!db)
        return 1;
    const char *p[] = {name, role, hash, queues};
    /* one statement: the account, the roster row, and the end of the user's sessions (a new
     * password or role takes effect at once) */
    int rc = of_db_run(
        db,
        "WITH u AS (INSERT INTO dashboard_users (name, role, password_hash, queues) "
        "VALUES ($1, $2, $3, string_to_array($4, ',')) ON CONFLICT (name) DO UPDATE SET "
        "role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, queues = EXCLUDED.queues, "
        "updated_at = now() RETURNING name), "
        "s AS (INSERT INTO staff (name, role) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET "
        "role = EXCLUDED.role, updated_at = now() RETURNING name), "
        "d AS (DELETE FROM dashboard_sessions WHERE user_name = $1 RETURNING 1) "
        "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM s), (SELECT count(*) FROM d)",
        4, p, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    else
        printf("dashboard user %s saved: role %s, queues %s\n", name, role,
               *queues ? queues : "(none)");
    of_db_free(db);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    of_log_init("admin", OF_LOG_WARN);
    of_config cfg;
    of_error err;
    if (of_config_load(&cfg, &err)) {
        fprintf(stderr, "bad configuration: %s\n", err.msg);
        return 2;
    }
    if (argc >= 2 && strcmp(argv[1], "create-topics") == 0) {
        int partitions = 6;
        if (argc == 4 && strcmp(argv[2], "--partitions") == 0)
            partitions = atoi(argv[3]);
        if (partitions < 1 || partitions > 1000) {
            fprintf(stderr, "--partitions takes a number from 1 to 1000\n");
            return 2;
        }
        return create_topics(&cfg, partitions);
    }
    if (argc == 4 && strcmp(argv[1], "staff") == 0)
        return staff(&cfg, argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "remittance-csv") == 0)
        return remittance_csv(&cfg, argv[2]);
    if (argc >= 4 && strcmp(argv[1], "user") == 0)
        return user(&cfg, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "replay") == 0)
        return admin_replay(&cfg, argc, argv);
    fprintf(stderr, "usage: orderflow-admin create-topics [--partitions N]\n"
                    "       orderflow-admin staff NAME ROLE\n"
                    "       orderflow-admin remittance-csv YYYY-MM-DD\n"
                    "       orderflow-admin user NAME ROLE [--queues a,b]   (password on stdin)\n"
                    "       orderflow-admin replay [--source S] [--type T] [--ids 1,2] [--all]\n");
    return 2;
}
