/*
 * sysinfo.h - facts about the host for the health endpoints: CPU usage
 * (sampled once a second from /proc/stat), memory, this process's RSS.
 */
#ifndef ORC_SYSINFO_H
#define ORC_SYSINFO_H

#include <stdint.h>

typedef struct orc_sysinfo_s orc_sysinfo_t;

orc_sysinfo_t *orc_sysinfo_new(void);
void orc_sysinfo_free(orc_sysinfo_t *s);
void orc_sysinfo_sample(orc_sysinfo_t *s);
double orc_sysinfo_cpu_percent(const orc_sysinfo_t *s);
int orc_sysinfo_memory(uint64_t *total_kb, uint64_t *available_kb);
uint64_t orc_sysinfo_rss_kb(void);
uint64_t orc_sysinfo_pid_rss_kb(int pid);

#endif
