/*
 * cbench: the reference for CaChannel's benchmarks, the same workloads
 * written directly on libca.  The runner (bench/run.py) compiles it against
 * the epicscorelibs wheel and starts it with the loopback-only environment.
 *
 * Every mode prints one JSON object on stdout:
 *
 *   cbench start                       create a CA context and exit
 *   cbench fill PV COUNT               write 0 .. COUNT-1 to a DOUBLE waveform
 *   cbench connect PREFIX N            search N scalars, read them all (and
 *                                      the time of each step, "steps", and
 *                                      each thread's CPU time, "threads")
 *   cbench roundtrip PV N              N sequential get + pend_io
 *   cbench waveform PV COUNT REPS      one read of COUNT doubles into a
 *                                      freshly malloc'ed buffer, then REPS
 *                                      more into that (now warm) buffer
 *   cbench monitor PREFIX N WARMUP WINDOW TYPE
 *                                      subscribe N counters with request
 *                                      type TYPE (DBR_DOUBLE or
 *                                      DBR_TIME_DOUBLE), count events
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cadef.h>

#define TIMEOUT 30.0

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall(void) { return now(CLOCK_MONOTONIC); }
static double cpu(void) { return now(CLOCK_PROCESS_CPUTIME_ID); }

/* Resident set size in bytes, from /proc/self/statm. */
static double rss_bytes(void)
{
    long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1.0;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
        pages_resident = -1;
    fclose(f);
    return (double)pages_resident * (double)sysconf(_SC_PAGESIZE);
}

static void check(int status, const char *what)
{
    if (status != ECA_NORMAL) {
        fprintf(stderr, "cbench: %s: %s\n", what, ca_message(status));
        exit(2);
    }
}

static void start_context(void)
{
    check(ca_context_create(ca_enable_preemptive_callback), "ca_context_create");
}

static char *pv_name(const char *prefix, long i)
{
    char *name = malloc(strlen(prefix) + 24);
    sprintf(name, "%s%ld", prefix, i);
    return name;
}

/* One thread's CPU time, as Linux counts it for the scheduler. */
struct thread_cpu {
    long tid;
    char name[32];
    double seconds;
};

#define MAX_THREADS 64

/* The threads of this process and the CPU seconds each has run (from
 * /proc/self/task/TID/schedstat, nanoseconds): 0 threads where /proc has
 * no schedstat.  The process's CPU time is their sum; per thread they say
 * whether the CPU went to the caller or to libca's threads. */
static int read_threads(struct thread_cpu *out)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *entry;
    int n = 0;

    if (!dir)
        return 0;
    while (n < MAX_THREADS && (entry = readdir(dir)) != NULL) {
        char path[300];
        unsigned long long ns;
        FILE *f;
        int ok;

        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", entry->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        ok = fscanf(f, "%llu", &ns) == 1;
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        if (!ok || !(f = fopen(path, "r")))
            continue;
        ok = fgets(out[n].name, sizeof out[n].name, f) != NULL;
        fclose(f);
        if (!ok)
            continue;
        /* printed inside JSON quotes: nothing that would need escaping */
        out[n].name[strcspn(out[n].name, "\n\"\\")] = '\0';
        out[n].tid = atol(entry->d_name);
        out[n].seconds = ns * 1e-9;
        n++;
    }
    closedir(dir);
    return n;
}

/* "threads": [[name, seconds], ...], the CPU each thread ran between two
 * read_threads(); the calling thread is "main", as in bench/phases.py.  A
 * thread that ended in between is not there (libca's live as long as
 * their context). */
static void print_threads(const struct thread_cpu *before, int n_before,
                          const struct thread_cpu *after, int n_after)
{
    long self = (long)getpid();
    int i, j;

    printf("\"threads\": [");
    for (i = 0; i < n_after; i++) {
        double seconds = after[i].seconds;
        for (j = 0; j < n_before; j++)
            if (before[j].tid == after[i].tid)
                seconds -= before[j].seconds;
        printf("%s[\"%s\", %.9g]", i ? ", " : "",
               after[i].tid == self ? "main" : after[i].name, seconds);
    }
    printf("]");
}

/* connect + read N scalars: create all, one pend_io, get all, one pend_io.
 * "steps" splits the time at the same points as bench/phases.py does for
 * the Python clients: wall and CPU seconds of each step. */
static int run_connect(const char *prefix, long n)
{
    static const char *step_names[] = {"create", "connect wait", "get", "get wait"};
    chid *chans = calloc(n, sizeof *chans);
    double *values = calloc(n, sizeof *values);
    char **names = calloc(n, sizeof *names);
    double rss0, rss1, marks[5][2];
    struct thread_cpu threads0[MAX_THREADS], threads1[MAX_THREADS];
    int n_threads0, n_threads1;
    long i;
    int step;

    for (i = 0; i < n; i++)
        names[i] = pv_name(prefix, i);
    start_context();
    rss0 = rss_bytes();
    n_threads0 = read_threads(threads0);
    marks[0][1] = cpu();
    marks[0][0] = wall();
    for (i = 0; i < n; i++)
        check(ca_create_channel(names[i], NULL, NULL, CA_PRIORITY_DEFAULT, &chans[i]),
              "ca_create_channel");
    marks[1][0] = wall(), marks[1][1] = cpu();
    check(ca_pend_io(TIMEOUT), "ca_pend_io (connect)");
    marks[2][0] = wall(), marks[2][1] = cpu();
    for (i = 0; i < n; i++)
        check(ca_array_get(DBR_DOUBLE, 1, chans[i], &values[i]), "ca_array_get");
    marks[3][0] = wall(), marks[3][1] = cpu();
    check(ca_pend_io(TIMEOUT), "ca_pend_io (get)");
    marks[4][0] = wall();
    marks[4][1] = cpu();
    n_threads1 = read_threads(threads1);
    rss1 = rss_bytes();
    printf("{\"seconds\": %.9g, \"cpu\": %.9g, \"rss_per_channel\": %.9g, "
           "\"check\": %.17g, \"steps\": {", marks[4][0] - marks[0][0],
           marks[4][1] - marks[0][1], (rss1 - rss0) / n, values[n - 1]);
    for (step = 0; step < 4; step++)
        printf("%s\"%s\": [%.9g, %.9g]", step ? ", " : "", step_names[step],
               marks[step + 1][0] - marks[step][0], marks[step + 1][1] - marks[step][1]);
    printf("}, ");
    print_threads(threads0, n_threads0, threads1, n_threads1);
    printf("}\n");
    for (i = 0; i < n; i++)
        ca_clear_channel(chans[i]);
    ca_context_destroy();
    return 0;
}

/* N sequential round trips: get one DOUBLE, wait with pend_io. */
static int run_roundtrip(const char *name, long n)
{
    chid chan;
    double value = 0.0, t0, t1;
    long i;

    start_context();
    check(ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chan), "ca_create_channel");
    check(ca_pend_io(TIMEOUT), "ca_pend_io (connect)");
    for (i = 0; i < n / 10 + 1; i++) { /* warm up */
        check(ca_array_get(DBR_DOUBLE, 1, chan, &value), "ca_array_get");
        check(ca_pend_io(TIMEOUT), "ca_pend_io");
    }
    t0 = wall();
    for (i = 0; i < n; i++) {
        check(ca_array_get(DBR_DOUBLE, 1, chan, &value), "ca_array_get");
        check(ca_pend_io(TIMEOUT), "ca_pend_io");
    }
    t1 = wall();
    printf("{\"seconds_per_call\": %.9g, \"check\": %.17g}\n", (t1 - t0) / n, value);
    ca_clear_channel(chan);
    ca_context_destroy();
    return 0;
}

/* Read COUNT doubles: the first read lands in a buffer malloc has just
 * handed out, whose pages the read itself faults in (what a process's first
 * read of an image costs); the REPS reads after it reuse that warm buffer
 * (a program that keeps one buffer per waveform). */
static double read_waveform(chid chan, long count, double *buffer)
{
    double t0 = wall();
    check(ca_array_get(DBR_DOUBLE, count, chan, buffer), "ca_array_get");
    check(ca_pend_io(TIMEOUT), "ca_pend_io");
    return wall() - t0;
}

static int run_waveform(const char *name, long count, long reps)
{
    chid chan;
    double *buffer, first, *times = calloc(reps, sizeof *times);
    long i;

    start_context();
    check(ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chan), "ca_create_channel");
    check(ca_pend_io(TIMEOUT), "ca_pend_io (connect)");
    if ((long)ca_element_count(chan) < count) {
        fprintf(stderr, "cbench: %s has only %lu elements\n", name, ca_element_count(chan));
        return 2;
    }
    buffer = malloc(count * sizeof *buffer);
    first = read_waveform(chan, count, buffer);
    for (i = 0; i < reps; i++)
        times[i] = read_waveform(chan, count, buffer);
    printf("{\"first\": %.9g, \"steady\": [", first);
    for (i = 0; i < reps; i++)
        printf("%s%.9g", i ? ", " : "", times[i]);
    printf("], \"check\": %.17g}\n", buffer[count - 1]);
    ca_clear_channel(chan);
    ca_context_destroy();
    return 0;
}

/* Monitors: per channel, events received and events skipped (the counter
 * records increment by one per scan, so a jump of k means k-1 were lost). */
struct counter {
    volatile long events;
    volatile long lost;
    double last;
};

static void on_event(struct event_handler_args args)
{
    struct counter *c = args.usr;
    double value;

    if (args.status != ECA_NORMAL || !args.dbr)
        return;
    if (args.type == DBR_TIME_DOUBLE)
        value = ((const struct dbr_time_double *)args.dbr)->value;
    else
        value = *(const double *)args.dbr;
    if (c->events > 0 && value > c->last + 1.0)
        c->lost += (long)(value - c->last - 1.0);
    c->last = value;
    c->events++;
}

static void totals(const struct counter *counters, long n, long *events, long *lost)
{
    long i;
    *events = 0;
    *lost = 0;
    for (i = 0; i < n; i++) {
        *events += counters[i].events;
        *lost += counters[i].lost;
    }
}

static int run_monitor(const char *prefix, long n, double warmup, double window,
                       const char *type_name)
{
    long type = !strcmp(type_name, "DBR_TIME_DOUBLE") ? DBR_TIME_DOUBLE : DBR_DOUBLE;
    chid *chans = calloc(n, sizeof *chans);
    struct counter *counters = calloc(n, sizeof *counters);
    long i, ev0, lost0, ev1, lost1;
    double w0, w1, c0, c1;

    start_context();
    for (i = 0; i < n; i++) {
        char *name = pv_name(prefix, i);
        check(ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chans[i]),
              "ca_create_channel");
        free(name);
    }
    check(ca_pend_io(TIMEOUT), "ca_pend_io (connect)");
    for (i = 0; i < n; i++)
        check(ca_create_subscription(type, 1, chans[i], DBE_VALUE | DBE_ALARM,
                                     on_event, &counters[i], NULL),
              "ca_create_subscription");
    ca_flush_io();
    usleep((useconds_t)(warmup * 1e6));
    totals(counters, n, &ev0, &lost0);
    w0 = wall();
    c0 = cpu();
    usleep((useconds_t)(window * 1e6));
    totals(counters, n, &ev1, &lost1);
    w1 = wall();
    c1 = cpu();
    printf("{\"events\": %ld, \"lost\": %ld, \"cpu\": %.9g, \"wall\": %.9g}\n",
           ev1 - ev0, lost1 - lost0, c1 - c0, w1 - w0);
    fflush(stdout);
    for (i = 0; i < n; i++)
        ca_clear_channel(chans[i]);
    ca_context_destroy();
    return 0;
}

/* Write 0 .. COUNT-1 into a DOUBLE waveform and read the last one back. */
static int run_fill(const char *name, long count)
{
    chid chan;
    double *buffer = malloc(count * sizeof *buffer), last = -1.0;
    long i;

    for (i = 0; i < count; i++)
        buffer[i] = (double)i;
    start_context();
    check(ca_create_channel(name, NULL, NULL, CA_PRIORITY_DEFAULT, &chan), "ca_create_channel");
    check(ca_pend_io(TIMEOUT), "ca_pend_io (connect)");
    check(ca_array_put(DBR_DOUBLE, count, chan, buffer), "ca_array_put");
    /* requests on one circuit are served in order: this read sees the put */
    check(ca_array_get(DBR_DOUBLE, 1, chan, &last), "ca_array_get");
    check(ca_pend_io(TIMEOUT), "ca_pend_io");
    printf("{\"first\": %.17g}\n", last);
    ca_clear_channel(chan);
    ca_context_destroy();
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "start")) {
        start_context();
        return 0;
    }
    if (!strcmp(mode, "fill") && argc == 4)
        return run_fill(argv[2], atol(argv[3]));
    if (!strcmp(mode, "connect") && argc == 4)
        return run_connect(argv[2], atol(argv[3]));
    if (!strcmp(mode, "roundtrip") && argc == 4)
        return run_roundtrip(argv[2], atol(argv[3]));
    if (!strcmp(mode, "waveform") && argc == 5)
        return run_waveform(argv[2], atol(argv[3]), atol(argv[4]));
    if (!strcmp(mode, "monitor") && argc == 7)
        return run_monitor(argv[2], atol(argv[3]), atof(argv[4]), atof(argv[5]), argv[6]);
    fprintf(stderr, "usage: cbench start | fill PV COUNT | connect PREFIX N | roundtrip PV N | "
                    "waveform PV COUNT REPS | monitor PREFIX N WARMUP WINDOW TYPE\n");
    return 1;
}
