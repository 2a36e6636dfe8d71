/*
 * shm.c - create the segment, hand out slots, fold retired slots, sum.
 *
 * Invariant: a total read by orc_shm_sum never decreases.  Workers only
 * add to their own slot.  The master folds a dead worker's slot into the
 * retired totals between two increments of fold_seq; a reader that sees
 * fold_seq odd or changed reads again.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/assert.h"
#include "common/orc.h"
#include "common/shm.h"

static const int status_codes[] = {ORC_STATUS_CODES};
static const uint64_t latency_bounds[] = {ORC_LATENCY_BOUNDS_US};

_Static_assert(ORC_ARRAY_LEN(status_codes) < ORC_STATUS_MAX, "status table too long");
_Static_assert(ORC_ARRAY_LEN(latency_bounds) + 1 == ORC_LATENCY_BUCKETS, "latency buckets");
_Static_assert(sizeof(orc_counters_t) % sizeof(uint64_t) == 0, "counters are words");

#if ORC_ASSERTS
/* The last consistent sum this process read, to check the invariant
 * above.  Readers are single-threaded processes. */
static struct {
    const orc_shm_t *shm;
    uint64_t words[ORC_COUNTERS_WORDS];
} last_sum;

static void sum_check(const orc_shm_t *shm, const uint64_t *words)
{
    if (last_sum.shm == shm)
        for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++)
            ORC_ASSERT(words[i] >= last_sum.words[i]);
    last_sum.shm = shm;
    memcpy(last_sum.words, words, sizeof(last_sum.words));
}
#endif

static size_t shm_size(uint32_t nslots)
{
    return sizeof(orc_shm_t) + (size_t)nslots * sizeof(orc_slot_t);
}

orc_shm_t *orc_shm_create(uint32_t nslots)
{
    size_t size = shm_size(nslots);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    orc_shm_t *shm = p;
    memset(shm, 0, size);
    shm->magic = ORC_SHM_MAGIC;
    shm->layout_version = ORC_SHM_LAYOUT;
    shm->nslots = nslots;
    shm->size = size;
    return shm;
}

void orc_shm_destroy(orc_shm_t *shm)
{
#if ORC_ASSERTS
    if (last_sum.shm == shm)
        last_sum.shm = NULL; /* a new segment may be mapped at the same address */
#endif
    if (shm != NULL)
        munmap(shm, shm->size);
}

int orc_shm_valid(const orc_shm_t *shm)
{
    return shm != NULL && shm->magic == ORC_SHM_MAGIC && shm->layout_version == ORC_SHM_LAYOUT &&
           shm->size == shm_size(shm->nslots);
}

/* Master only. Returns the slot number, or ORC_ERR when all are taken. */
int orc_shm_slot_claim(orc_shm_t *shm, uint32_t generation, uint32_t index)
{
    for (uint32_t i = 0; i < shm->nslots; i++) {
        orc_slot_t *s = &shm->slots[i];
        if (atomic_load(&s->state) != ORC_SLOT_FREE)
            continue;
        ORC_ASSERT(atomic_load(&s->pid) == 0); /* freed by orc_shm_slot_retire, after its worker was reaped */
        atomic_store(&s->pid, 0);
        atomic_store(&s->generation, generation);
        atomic_store(&s->index, index);
        atomic_store(&s->inflight, 0);
        atomic_store(&s->served, 0);
        atomic_store(&s->rss_kb, 0);
        atomic_store(&s->heartbeat_ms, 0);
        atomic_store(&s->state, ORC_SLOT_STARTING);
        return (int)i;
    }
    return ORC_ERR;
}

/* Master only, after the slot's worker was reaped: fold and free it. */
void orc_shm_slot_retire(orc_shm_t *shm, int slot)
{
    ORC_CHECK(slot >= 0 && (uint32_t)slot < shm->nslots);
    orc_slot_t *s = &shm->slots[slot];
    ORC_ASSERT(atomic_load(&s->state) != ORC_SLOT_FREE); /* claimed, and not retired twice */
    _Atomic uint64_t *from = (_Atomic uint64_t *)&s->counters;
    _Atomic uint64_t *to = (_Atomic uint64_t *)&shm->retired;
    atomic_fetch_add_explicit(&shm->fold_seq, 1, memory_order_acq_rel);
    for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++) {
        uint64_t v = atomic_load_explicit(&from[i], memory_order_relaxed);
        atomic_fetch_add_explicit(&to[i], v, memory_order_relaxed);
        atomic_store_explicit(&from[i], 0, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&shm->fold_seq, 1, memory_order_acq_rel);
    atomic_store(&s->pid, 0);
    atomic_store(&s->inflight, 0);
    for (int p = 0; p < ORC_SHM_PROVIDERS; p++) /* its calls died with it */
        atomic_store(&s->provider_inflight[p], 0);
    for (int k = 0; k < ORC_SHM_KEYS; k++) { /* and its requests counted against client keys */
        uint16_t n = atomic_exchange(&s->key_inflight[k], 0);
        if (n > 0)
            atomic_fetch_sub(&shm->keylimits[k].inflight, n);
    }
    atomic_store(&s->state, ORC_SLOT_FREE);
}

static void sum_once(const orc_shm_t *shm, uint64_t *out)
{
    const _Atomic uint64_t *r = (const _Atomic uint64_t *)&shm->retired;
    for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++)
        out[i] = atomic_load_explicit(&r[i], memory_order_relaxed);
    for (uint32_t s = 0; s < shm->nslots; s++) {
        const _Atomic uint64_t *c = (const _Atomic uint64_t *)&shm->slots[s].counters;
        for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++)
            out[i] += atomic_load_explicit(&c[i], memory_order_relaxed);
    }
}

void orc_shm_sum(const orc_shm_t *shm, orc_counters_t *out)
{
    uint64_t *words = (uint64_t *)out;
    _Atomic uint32_t *seq = (_Atomic uint32_t *)&shm->fold_seq;
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint32_t before = atomic_load_explicit(seq, memory_order_acquire);
        if (before & 1u)
            continue;
        sum_once(shm, words);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) == before) {
#if ORC_ASSERTS
            sum_check(shm, words);
#endif
            return;
        }
    }
    sum_once(shm, words); /* the master cannot fold forever; best effort */
}

int orc_shm_provider_find(const orc_shm_t *shm, const char *name)
{
    uint32_t n = atomic_load_explicit(&((orc_shm_t *)shm)->nprovider_names, memory_order_acquire);
    for (uint32_t i = 0; i < n && i < ORC_SHM_PROVIDERS; i++)
        if (strncmp(shm->provider_names[i], name, ORC_SHM_PROVIDER_NAME) == 0)
            return (int)i;
    return ORC_ERR;
}

int orc_shm_provider_register(orc_shm_t *shm, const char *name)
{
    int found = orc_shm_provider_find(shm, name);
    if (found >= 0)
        return found;
    uint32_t n = atomic_load(&shm->nprovider_names);
    if (n >= ORC_SHM_PROVIDERS || strlen(name) >= ORC_SHM_PROVIDER_NAME)
        return ORC_ERR;
    memcpy(shm->provider_names[n], name, strlen(name) + 1);
    atomic_store_explicit(&shm->nprovider_names, n + 1, memory_order_release);
    return (int)n;
}

int orc_shm_status_index(int status)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(status_codes); i++)
        if (status_codes[i] == status)
            return (int)i;
    return (int)ORC_ARRAY_LEN(status_codes); /* "other" */
}

int orc_shm_status_code(int index)
{
    return index >= 0 && index < (int)ORC_ARRAY_LEN(status_codes) ? status_codes[index] : 0;
}

int orc_shm_latency_bucket(uint64_t us)
{
    for (size_t i = 0; i < ORC_ARRAY_LEN(latency_bounds); i++)
        if (us <= latency_bounds[i])
            return (int)i;
    return ORC_LATENCY_BUCKETS - 1;
}

uint64_t orc_shm_latency_bound_us(int bucket)
{
    if (bucket < 0)
        return 0;
    return bucket < (int)ORC_ARRAY_LEN(latency_bounds) ? latency_bounds[bucket] : UINT64_MAX;
}
