/*
 * sysinfo.c - /proc readers.  Each read is one small file, off the
 * request path except for the health endpoints that report them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/orc.h"
#include "common/sysinfo.h"

struct orc_sysinfo_s {
    uint64_t last_total, last_idle;
    double cpu_percent;
};

orc_sysinfo_t *orc_sysinfo_new(void)
{
    orc_sysinfo_t *s = calloc(1, sizeof(*s));
    if (s != NULL)
        orc_sysinfo_sample(s);
    return s;
}

void orc_sysinfo_free(orc_sysinfo_t *s)
{
    free(s);
}

void orc_sysinfo_sample(orc_sysinfo_t *s)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return;
    uint64_t idle = v[3] + v[4], total = 0;
    for (int i = 0; i < 8; i++)
        total += v[i];
    if (s->last_total != 0 && total > s->last_total) {
        uint64_t dt = total - s->last_total, di = idle - s->last_idle;
        s->cpu_percent = 100.0 * (double)(dt - ORC_MIN(di, dt)) / (double)dt;
    }
    s->last_total = total;
    s->last_idle = idle;
}

double orc_sysinfo_cpu_percent(const orc_sysinfo_t *s)
{
    return s ? s->cpu_percent : 0.0;
}

int orc_sysinfo_memory(uint64_t *total_kb, uint64_t *available_kb)
{
    char line[256];
    unsigned long long v;
    *total_kb = *available_kb = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f == NULL)
        return ORC_ERR;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
            *total_kb = v;
        else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
            *available_kb = v;
    }
    fclose(f);
    return *total_kb > 0 ? ORC_OK : ORC_ERR;
}

uint64_t orc_sysinfo_pid_rss_kb(int pid)
{
    char path[64];
    unsigned long long size = 0, resident = 0;
    snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024u;
}

uint64_t orc_sysinfo_rss_kb(void)
{
    return orc_sysinfo_pid_rss_kb((int)getpid());
}
