/* orderflow-admin — operator commands.
 *   orderflow-admin create-topics [--partitions N]   create the topics of SPEC §2 (idempotent)
 *   orderflow-admin staff NAME ROLE                   add or change a staff member's role
 *   orderflow-admin remittance-csv DAY                the day's 匯款銷售記錄表 as CSV (M7) */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "event_types.h"
#include "kafka_conf.h"
#include "log.h"

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

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void csv_field(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    fputs(last ? "\r\n" : ",", stdout);
}

static int remittance_csv(const of_config *cfg, const char *day)
{
    of_db *db = connect_db(cfg);
    if (!db)
        return 1;
    const char *p[] = {day, cfg->shop_tz};
    of_error err;
    PGresult *r = of_db_exec(
        db,
        "SELECT day::text, remit_id, buyer_id, CASE WHEN placed_on_shop THEN '已拍下' ELSE "
        "'未拍下' END, (SELECT string_agg((i->>'sku') || coalesce(' ' || (i->>'size'), '') || "
        "' x' || (i->>'qty'), '; ') FROM jsonb_array_elements(items) i), address, staff, "
        "coalesce(amount::text, ''), state, "
        "coalesce(to_char(notified_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(to_char(verified_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(to_char(shipped_at AT TIME ZONE $2, 'YYYY-MM-DD HH24:MI'), ''), "
        "coalesce(waybill_no, ''), coalesce(reviewed_by, '') "
        "FROM remittance_daily_v WHERE day = $1::date ORDER BY remit_id",
        2, p, &err);
    if (!r) {
        fprintf(stderr, "%s\n", err.msg);
        of_db_free(db);
        return 1;
    }
    static const char *const header[] = {"日期",     "匯款單號", "買家",   "是否拍下", "商品",
                                         "收貨地址", "客服",     "金額",   "狀態",     "通知時間",
                                         "核實時間", "發貨時間", "運單號", "審核主管"};
    enum { NCOL = sizeof header / sizeof header[0] };
    for (int c = 0; c < NCOL; c++)
        csv_field(header[c], c == NCOL - 1);
    for (int row = 0; row < PQntuples(r); row++)
        for (int c = 0; c < NCOL; c++)
            csv_field(PQgetvalue(r, row, c), c == NCOL - 1);
    PQclear(r);
    of_db_free(db);
    return 0;
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
    fprintf(stderr, "usage: orderflow-admin create-topics [--partitions N]\n"
                    "       orderflow-admin staff NAME ROLE\n"
                    "       orderflow-admin remittance-csv YYYY-MM-DD\n");
    return 2;
}
