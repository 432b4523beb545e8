/*
 * matchbench — how many events per second one core routes through an
 * event bus's rules: a ruleset (src/engine/ruleset.h) of 10, 100 and 1,000
 * EventBridge-style rules against parsed events of about 1 KiB, beside
 * matching every rule in turn (sl_pattern_match) and beside the floor of
 * parsing such an event with jansson. Deterministic: the rules and the
 * events come from a fixed seed. Before timing, every event's matches
 * through the ruleset are checked against one-by-one matching.
 *
 * Prints markdown on stdout, progress on stderr. Exit status: 0 when the
 * run completed (3 with --strict if the budget failed), 1 when it could
 * not run, 2 on bad options.
 */
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/pattern.h"
#include "engine/ruleset.h"

#define BUDGET_EPS 200000.0 /* events/s at 1,000 rules */
#define AIM_EPS 1000000.0
#define MAX_CELLS 8
#define RULE_MAX 1024 /* bytes of a rule's text */
#define EVENT_MAX 4096

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(rnd64() % n);
}

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rules and events ---------------------------------------------------- */

#define NSOURCES 40
#define NTYPES 8 /* detail-types per source */

static const char *const aws_sources[] = {
    "aws.ec2",    "aws.s3",     "aws.lambda",      "aws.ecs",      "aws.rds",   "aws.dynamodb",
    "aws.sqs",    "aws.sns",    "aws.codepipeline", "aws.codebuild", "aws.health", "aws.signin",
    "aws.autoscaling", "aws.glue", "aws.states",    "aws.batch",
};
static const char *const nouns[] = {"Order",   "Payment", "Shipment", "Invoice",
                                    "User",    "Instance", "Object",  "Job"};
static const char *const verbs[] = {"Created", "Updated", "Deleted",
                                    "Failed",  "Succeeded", "State-change Notification",
                                    "Started", "Completed"};
static const char *const states[] = {"running", "stopped", "terminated",
                                     "pending", "failed",  "succeeded"};
static const char *const statuses[] = {"ok", "pending", "failed", "retrying", "cancelled"};
static const char *const priorities[] = {"low", "normal", "high", "critical"};
static const char *const tiers[] = {"free", "silver", "gold", "platinum"};
static const char *const regions[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-south-1"};

static void source_name(unsigned s, char *out, size_t n)
{
    if (s < sizeof(aws_sources) / sizeof(aws_sources[0]))
        snprintf(out, n, "%s", aws_sources[s]);
    else
        snprintf(out, n, "com.acme.svc%02u", s);
}

/* The k-th detail-type of source s: each source has its own, as AWS's
 * services do ("EC2 Instance State-change Notification"). */
static void type_name(unsigned s, unsigned k, char *out, size_t n)
{
    char src[32];
    source_name(s, src, sizeof(src));
    const char *svc = strrchr(src, '.') + 1;
    snprintf(out, n, "%c%s %s %s", svc[0] - 'a' + 'A', svc + 1, nouns[(s + k) % 8],
             verbs[(s * 3 + k) % 8]);
}

/* One rule of the kinds event buses hold, as JSON text: a source, mostly
 * detail-types, and conditions on the detail, some on values that name
 * one resource (a bucket, a pipeline), some broad (a state, a range). */
static void make_rule(char *out, size_t n)
{
    unsigned s = rnd(NSOURCES), r = rnd(100);
    char src[32], d1[64], d2[64];
    source_name(s, src, sizeof(src));
    type_name(s, rnd(NTYPES), d1, sizeof(d1));
    type_name(s, rnd(NTYPES), d2, sizeof(d2));
    if (r < 25) {
        snprintf(out, n, "{\"source\":[\"%s\"],\"detail-type\":[\"%s\",\"%s\"]}", src, d1, d2);
    } else if (r < 40) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail-type\":[\"%s\"],"
                 "\"detail\":{\"state\":[\"%s\",\"%s\"]}}",
                 src, d1, states[rnd(6)], states[rnd(6)]);
    } else if (r < 50) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail\":{\"bucket\":{\"name\":[\"logs-%u\"]},"
                 "\"object\":{\"key\":[{\"suffix\":\".csv\"}]}}}",
                 src, rnd(12));
    } else if (r < 60) {
        unsigned lo = rnd(1000);
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail-type\":[\"%s\"],"
                 "\"detail\":{\"amount\":[{\"numeric\":[\">\",%u,\"<=\",%u]}]}}",
                 src, d1, lo, lo + 1 + rnd(5000));
    } else if (r < 66) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail\":{\"status\":[{\"anything-but\":[\"ok\","
                 "\"pending\"]}]}}",
                 src);
    } else if (r < 73) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail-type\":[\"%s\"],"
                 "\"detail\":{\"error\":[{\"exists\":true}]}}",
                 src, d1);
    } else if (r < 80) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],"
                 "\"$or\":[{\"detail\":{\"priority\":[\"high\",\"critical\"]}},"
                 "{\"detail\":{\"amount\":[{\"numeric\":[\">=\",%u]}]}}]}",
                 src, 1000 + rnd(9000));
    } else if (r < 86) {
        snprintf(out, n,
                 "{\"source\":[{\"prefix\":\"com.acme.\"}],\"detail-type\":[\"%s\"],"
                 "\"detail\":{\"customer\":{\"tier\":[\"gold\",\"platinum\"]}}}",
                 d1);
    } else if (r < 90) {
        snprintf(out, n,
                 "{\"account\":[\"123456789012\"],\"region\":[\"%s\",\"%s\"],\"source\":[\"%s\"]}",
                 regions[rnd(4)], regions[rnd(4)], src);
    } else if (r < 94) {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],\"detail\":{\"pipeline\":[\"pipeline-%u\"],"
                 "\"state\":[\"failed\"]}}",
                 src, rnd(50));
    } else if (r < 97) {
        for (char *p = d1; *p; p++)
            if (*p >= 'a' && *p <= 'z' && rnd(2))
                *p = (char)(*p - 'a' + 'A');
        snprintf(out, n, "{\"source\":[\"%s\"],\"detail-type\":[{\"equals-ignore-case\":\"%s\"}]}",
                 src, d1);
    } else if (r < 99) {
        snprintf(out, n, "{\"source\":[\"%s\"],\"detail\":{\"ip\":[{\"cidr\":\"10.%u.0.0/16\"}]}}",
                 src, rnd(4));
    } else {
        snprintf(out, n,
                 "{\"source\":[\"%s\"],"
                 "\"resources\":[{\"wildcard\":\"arn:aws:s3:::bucket-%u/*\"}]}",
                 src, rnd(10));
    }
}

/* An EventBridge event of about 1 KiB: the envelope, resources, and a
 * detail with a dozen fields (some nested, an array of objects). */
static int make_event(char *out, size_t n)
{
    unsigned s = rnd(NSOURCES);
    char src[32], dt[64];
    source_name(s, src, sizeof(src));
    type_name(s, rnd(NTYPES), dt, sizeof(dt));
    char error[64] = "";
    if (rnd(5) == 0)
        snprintf(error, sizeof(error), "\"error\":\"Timeout after %u ms\",", rnd(30000));
    return snprintf(
        out, n,
        "{\"version\":\"0\",\"id\":\"%08x-%04x-%04x-%04x-%012llx\",\"detail-type\":\"%s\","
        "\"source\":\"%s\",\"account\":\"%s\",\"time\":\"2024-05-%02uT%02u:%02u:%02uZ\","
        "\"region\":\"%s\",\"resources\":[\"arn:aws:ec2:us-east-1:123456789012:instance/"
        "i-%016llx\",\"arn:aws:s3:::bucket-%u/data/%u.csv\"],"
        "\"detail\":{\"instance-id\":\"i-%016llx\",\"pipeline\":\"pipeline-%u\",\"state\":\"%s\",%s"
        "\"bucket\":{\"name\":\"%s-%u\",\"arn\":\"arn:aws:s3:::%s-%u\"},"
        "\"object\":{\"key\":\"incoming/2024/05/%u/part-%05u.%s\",\"size\":%u,"
        "\"etag\":\"%016llx%016llx\",\"sequencer\":\"%016llx\"},"
        "\"amount\":%u.%02u,\"currency\":\"USD\",\"status\":\"%s\",\"priority\":\"%s\","
        "\"customer\":{\"id\":\"c-%06u\",\"tier\":\"%s\",\"email\":\"user%u@example.com\","
        "\"since\":\"2019-01-01\"},\"ip\":\"10.%u.%u.%u\",\"user-agent\":\"aws-sdk-java/2.20.%u "
        "Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.6\",\"attempt\":%u,\"dry-run\":%s,"
        "\"items\":[{\"sku\":\"SKU-%04u\",\"qty\":%u,\"price\":%u.99},{\"sku\":\"SKU-%04u\","
        "\"qty\":%u,\"price\":%u.49},{\"sku\":\"SKU-%04u\",\"qty\":1,\"price\":5.00}],"
        "\"tags\":{\"env\":\"%s\",\"team\":\"data-%u\",\"cost-center\":\"cc-%u\"},"
        "\"note\":\"%.*s\"}}",
        (unsigned)rnd64(), rnd(65536), rnd(65536), rnd(65536),
        (unsigned long long)(rnd64() & 0xffffffffffffull), dt, src,
        rnd(10) ? "123456789012" : "210987654321", 1 + rnd(28), rnd(24), rnd(60), rnd(60),
        regions[rnd(4)], (unsigned long long)rnd64(), rnd(12), rnd(1000),
        (unsigned long long)rnd64(), rnd(50), states[rnd(6)], error, rnd(2) ? "logs" : "data",
        rnd(12),
        "logs", rnd(12), 1 + rnd(28), rnd(100000), rnd(4) ? "csv" : "json", rnd(10000000),
        (unsigned long long)rnd64(), (unsigned long long)rnd64(), (unsigned long long)rnd64(),
        rnd(20000), rnd(100), statuses[rnd(5)], priorities[rnd(4)], rnd(1000000), tiers[rnd(4)],
        rnd(100000), rnd(4), rnd(256), rnd(256), rnd(300), 1 + rnd(3), rnd(2) ? "true" : "false",
        rnd(10000), 1 + rnd(5), rnd(100), rnd(10000), 1 + rnd(5), rnd(100), rnd(10000),
        rnd(2) ? "prod" : "staging", rnd(20), rnd(1000), (int)(40 + rnd(60)),
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua.");
}

/* ---- measuring ----------------------------------------------------------- */

/* One row of the table: a ruleset size against a set of events. */
struct cell {
    size_t rules, nev;
    bool cold;
    struct sl_ruleset_stats st;
    double build_ms;
    double idx_eps, naive_eps;
    double matches, confirmed; /* per event */
};

static size_t sink;

static void count_match(void *arg, size_t i)
{
    (void)arg;
    sink += i;
}

/* Events per second through rs (or each pattern in turn when rs is NULL)
 * over at least duration seconds. */
static double run(const struct sl_ruleset *rs, struct sl_pattern **p, size_t n, json_t **ev,
                  size_t nev, double duration)
{
    double t0 = now(CLOCK_MONOTONIC), t1;
    size_t done = 0;
    do {
        for (size_t e = 0; e < nev; e++) {
            if (rs) {
                sink += sl_ruleset_match(rs, ev[e], count_match, NULL);
            } else {
                for (size_t i = 0; i < n; i++)
                    if (sl_pattern_match(p[i], ev[e]))
                        count_match(NULL, i);
            }
        }
        done += nev;
        t1 = now(CLOCK_MONOTONIC);
    } while (t1 - t0 < duration);
    return (double)done / (t1 - t0);
}

struct hits {
    size_t *idx, n;
};

static void hit(void *arg, size_t i)
{
    struct hits *h = arg;
    h->idx[h->n++] = i;
}

/* Builds a ruleset of p[0..cl->rules), checks its answers against one by
 * one on ev[0..cl->nev), then measures both, best of rounds. */
static int measure(struct cell *cl, struct sl_pattern **p, json_t **ev, size_t *idx,
                   double duration, int rounds, bool naive)
{
    size_t n = cl->rules;
    struct sl_ruleset *rs = NULL;
    double t0 = now(CLOCK_MONOTONIC);
    if (sl_ruleset_build(p, n, &rs)) {
        fprintf(stderr, "matchbench: building the ruleset: out of memory\n");
        return -1;
    }
    cl->build_ms = (now(CLOCK_MONOTONIC) - t0) * 1e3;
    sl_ruleset_stats(rs, &cl->st);
    for (size_t e = 0; e < cl->nev; e++) {
        struct hits h = {idx, 0};
        sl_ruleset_match(rs, ev[e], hit, &h);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!sl_pattern_match(p[i], ev[e]))
                continue;
            if (k >= h.n || h.idx[k] != i) {
                fprintf(stderr, "matchbench: event %zu: the ruleset and rule %zu disagree\n", e,
                        i);
                sl_ruleset_free(rs);
                return -1;
            }
            k++;
        }
        if (k != h.n) {
            fprintf(stderr, "matchbench: event %zu: %zu matches, one by one %zu\n", e, h.n, k);
            sl_ruleset_free(rs);
            return -1;
        }
        cl->matches += (double)k;
        cl->confirmed += (double)sl_ruleset_candidates(rs, ev[e]);
    }
    cl->matches /= (double)cl->nev;
    cl->confirmed /= (double)cl->nev;
    for (int r = 0; r < rounds; r++) {
        double a = run(rs, p, n, ev, cl->nev, duration);
        double b = naive ? run(NULL, p, n, ev, cl->nev, duration) : 0;
        cl->idx_eps = a > cl->idx_eps ? a : cl->idx_eps;
        cl->naive_eps = b > cl->naive_eps ? b : cl->naive_eps;
    }
    sl_ruleset_free(rs);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: matchbench [--duration S] [--rounds N] [--rules N,N,...] [--events N]\n"
            "                  [--cold-events N] [--no-naive] [--strict]\n"
            "  --duration S     seconds of one measurement (default 0.2)\n"
            "  --rounds N       measurements per figure, the best kept (default 7)\n"
            "  --rules LIST     ruleset sizes (default 10,100,1000)\n"
            "  --events N       distinct events cycled through (default 100)\n"
            "  --cold-events N  the last size again over N events, caches colder\n"
            "                   (default 2000; 0 skips it)\n"
            "  --no-naive       skip one-by-one matching (e.g. to profile the ruleset)\n"
            "  --strict         exit 3 when the budget fails\n");
}

static bool parse_size(const char *v, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || x > 1000000)
        return false;
    *out = (size_t)x;
    return true;
}

int main(int argc, char **argv)
{
    double duration = 0.2;
    size_t sizes[MAX_CELLS] = {10, 100, 1000}, nsizes = 3, nev = 100, ncold = 2000, rounds = 7;
    bool strict = false, naive = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--duration") == 0 && v) {
            duration = strtod(v, NULL);
            i++;
        } else if (strcmp(a, "--rounds") == 0 && v) {
            ok = parse_size(v, &rounds) && rounds > 0;
            i++;
        } else if (strcmp(a, "--events") == 0 && v) {
            ok = parse_size(v, &nev) && nev > 0;
            i++;
        } else if (strcmp(a, "--cold-events") == 0 && v) {
            ok = parse_size(v, &ncold);
            i++;
        } else if (strcmp(a, "--rules") == 0 && v) {
            char list[256];
            snprintf(list, sizeof(list), "%s", v);
            nsizes = 0;
            for (char *t = strtok(list, ","); t && ok; t = strtok(NULL, ",")) {
                ok = nsizes < MAX_CELLS && parse_size(t, &sizes[nsizes]) && sizes[nsizes] > 0;
                nsizes++;
            }
            ok = ok && nsizes > 0;
            i++;
        } else if (strcmp(a, "--strict") == 0) {
            strict = true;
        } else if (strcmp(a, "--no-naive") == 0) {
            naive = false;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            ok = false;
        }
        if (!ok || !(duration > 0)) {
            usage(stderr);
            return 2;
        }
    }
    size_t maxrules = 0, maxev = nev > ncold ? nev : ncold;
    for (size_t i = 0; i < nsizes; i++)
        maxrules = sizes[i] > maxrules ? sizes[i] : maxrules;

    /* One core: the thread stays on the CPU it started on. */
    int cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0)
        CPU_SET(cpu, &set);
    bool pinned = cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0;

    /* The rules (every size takes the first N of the same list), the
     * events, and their text for the parse floor. */
    struct sl_pattern **p = calloc(maxrules, sizeof(*p));
    json_t **ev = calloc(maxev, sizeof(*ev));
    char **text = calloc(maxev, sizeof(*text));
    size_t *lens = calloc(maxev, sizeof(*lens)), *idx = calloc(maxrules, sizeof(*idx));
    if (!p || !ev || !text || !lens || !idx) {
        fprintf(stderr, "matchbench: out of memory\n");
        return 1;
    }
    char buf[EVENT_MAX];
    for (size_t i = 0; i < maxrules; i++) {
        make_rule(buf, RULE_MAX);
        struct sl_err err = {0};
        if (sl_pattern_compile(buf, strlen(buf), &p[i], &err)) {
            fprintf(stderr, "matchbench: rule %s: %s\n", buf, err.msg);
            return 1;
        }
    }
    size_t bytes = 0;
    for (size_t e = 0; e < maxev; e++) {
        int len = make_event(buf, sizeof(buf));
        json_error_t jerr;
        if (len < 0 || (size_t)len >= sizeof(buf) ||
            !(ev[e] = json_loadb(buf, (size_t)len, 0, &jerr))) {
            fprintf(stderr, "matchbench: event %zu: %s\n", e, len < 0 ? "format" : jerr.text);
            return 1;
        }
        text[e] = strdup(buf);
        lens[e] = (size_t)len;
        if (!text[e]) {
            fprintf(stderr, "matchbench: out of memory\n");
            return 1;
        }
        bytes += e < nev ? (size_t)len : 0;
    }

    /* The floor: parsing an event. */
    fprintf(stderr, "matchbench: floor (json_loadb)\n");
    double best_parse = 0;
    for (size_t r = 0; r < rounds; r++) {
        double t0 = now(CLOCK_MONOTONIC), t1;
        size_t done = 0;
        do {
            for (size_t e = 0; e < nev; e++) {
                json_t *j = json_loadb(text[e], lens[e], 0, NULL);
                sink += j != NULL;
                json_decref(j);
            }
            done += nev;
            t1 = now(CLOCK_MONOTONIC);
        } while (t1 - t0 < duration);
        double eps = (double)done / (t1 - t0);
        best_parse = eps > best_parse ? eps : best_parse;
    }

    struct cell cells[MAX_CELLS + 1];
    size_t ncells = 0;
    for (size_t c = 0; c <= nsizes; c++) {
        if (c == nsizes && (ncold == 0 || !naive))
            break;
        struct cell *cl = &cells[ncells++];
        *cl = (struct cell){.rules = c < nsizes ? sizes[c] : maxrules,
                            .nev = c < nsizes ? nev : ncold,
                            .cold = c == nsizes};
        fprintf(stderr, "matchbench: %zu rules, %zu events\n", cl->rules, cl->nev);
        if (measure(cl, p, ev, idx, duration, (int)rounds, naive))
            return 1;
    }

    printf("# Event routing: one event against a bus's rules, one core\n\n");
    printf("Events of %.0f B on average, parsed beforehand (as PutEvents has them when it "
           "routes), %zu distinct ones cycled; rules from a fixed seed; %s; each figure the best "
           "of %zu runs of %.1f s.\n\n",
           (double)bytes / (double)nev, nev,
           pinned ? "pinned to one CPU" : "not pinned (sched_setaffinity failed)", rounds,
           duration);
    printf("Floor: parsing one such event with jansson: %.0f events/s (%.2f µs).\n\n", best_parse,
           1e6 / best_parse);
    printf("| rules | events | ruleset events/s | µs/event | one by one events/s | speed-up | "
           "matches/event | confirmed/event | exact rules | without guard | keys | build ms |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const struct cell *budget = NULL;
    for (size_t c = 0; c < ncells; c++) {
        const struct cell *cl = &cells[c];
        printf("| %zu | %zu%s | %.0f | %.2f | ", cl->rules, cl->nev, cl->cold ? " (cold)" : "",
               cl->idx_eps, 1e6 / cl->idx_eps);
        if (naive)
            printf("%.0f | %.1f× | ", cl->naive_eps, cl->idx_eps / cl->naive_eps);
        else
            printf("– | – | ");
        printf("%.2f | %.2f | %zu | %zu | %zu | %.2f |\n", cl->matches, cl->confirmed,
               cl->st.exact, cl->st.always, cl->st.keys, cl->build_ms);
        if (cl->rules == 1000 && !cl->cold)
            budget = cl;
    }
    bool pass = true;
    printf("\n## Budget\n\n");
    if (budget) {
        pass = budget->idx_eps >= BUDGET_EPS;
        printf("| budget | measured | result |\n|---|---:|---|\n");
        printf("| 1,000 rules ≥ %.0f events/s on one core (aim %.0f) | %.0f | %s%s |\n",
               BUDGET_EPS, AIM_EPS, budget->idx_eps, pass ? "PASS" : "FAIL",
               pass && budget->idx_eps >= AIM_EPS ? ", aim reached" : "");
    } else {
        printf("Not checked: no cell of 1,000 rules (--rules).\n");
    }
    for (size_t i = 0; i < maxrules; i++)
        sl_pattern_free(p[i]);
    for (size_t e = 0; e < maxev; e++) {
        json_decref(ev[e]);
        free(text[e]);
    }
    free(p);
    free(ev);
    free(text);
    free(lens);
    free(idx);
    return strict && !pass ? 3 : 0;
}
