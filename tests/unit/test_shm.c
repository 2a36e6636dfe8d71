/*
 * test_shm.c - the shared-memory segment: header, slot claim/retire,
 * lock-free sums that never go backwards, sharing across fork, and the
 * status and latency tables.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/orc.h"
#include "common/shm.h"

TestSuite(shm, .timeout = 10);

static const int codes[] = {ORC_STATUS_CODES};
#define NCODES ((int)ORC_ARRAY_LEN(codes))

static uint64_t *words(orc_counters_t *c)
{
    return (uint64_t *)c;
}

static void assert_counters_zero(orc_counters_t *c, const char *what)
{
    for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++)
        cr_assert_eq(words(c)[i], 0, "%s: word %zu is %llu", what, i, (unsigned long long)words(c)[i]);
}

/* ---- header ----------------------------------------------------------- */

Test(shm, create_gives_valid_header)
{
    orc_shm_t *shm = orc_shm_create(8);
    cr_assert_not_null(shm);
    cr_assert(orc_shm_valid(shm));
    cr_assert_eq(shm->magic, ORC_SHM_MAGIC);
    cr_assert_eq(shm->layout_version, ORC_SHM_LAYOUT);
    cr_assert_eq(shm->nslots, 8);
    cr_assert_eq(shm->size, sizeof(orc_shm_t) + 8 * sizeof(orc_slot_t));
    cr_assert_eq(shm->fold_seq, 0);
    for (uint32_t i = 0; i < shm->nslots; i++) {
        cr_assert_eq(shm->slots[i].state, ORC_SLOT_FREE, "slot %u", i);
        cr_assert_eq((uintptr_t)&shm->slots[i] % 64, 0, "slot %u is not cache-line aligned", i);
        assert_counters_zero(&shm->slots[i].counters, "fresh slot");
    }
    assert_counters_zero(&shm->retired, "fresh retired");
    /* the last slot is writable: the mapping covers all of them */
    shm->slots[7].served = 1;
    orc_shm_destroy(shm);
}

Test(shm, valid_rejects_damage)
{
    cr_assert_not(orc_shm_valid(NULL));
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    shm->magic ^= 1;
    cr_assert_not(orc_shm_valid(shm));
    shm->magic = ORC_SHM_MAGIC;
    shm->layout_version = ORC_SHM_LAYOUT + 1;
    cr_assert_not(orc_shm_valid(shm));
    shm->layout_version = ORC_SHM_LAYOUT;
    shm->nslots = 5; /* size no longer matches */
    cr_assert_not(orc_shm_valid(shm));
    shm->nslots = 4;
    cr_assert(orc_shm_valid(shm));
    orc_shm_destroy(shm);
}

/* ---- slots ------------------------------------------------------------ */

Test(shm, claim_fills_then_fails)
{
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    for (int i = 0; i < 4; i++) {
        int s = orc_shm_slot_claim(shm, 7, (uint32_t)i);
        cr_assert_eq(s, i, "claim %d returned %d", i, s);
        cr_assert_eq(shm->slots[s].state, ORC_SLOT_STARTING);
        cr_assert_eq(shm->slots[s].generation, 7);
        cr_assert_eq(shm->slots[s].index, (uint32_t)i);
        cr_assert_eq(shm->slots[s].pid, 0);
    }
    cr_assert_eq(orc_shm_slot_claim(shm, 7, 4), ORC_ERR);
    cr_assert_eq(orc_shm_slot_claim(shm, 8, 0), ORC_ERR);
    orc_shm_destroy(shm);
}

Test(shm, claim_skips_busy_states)
{
    orc_shm_t *shm = orc_shm_create(3);
    cr_assert_not_null(shm);
    shm->slots[0].state = ORC_SLOT_SERVING;
    shm->slots[1].state = ORC_SLOT_DRAINING;
    cr_assert_eq(orc_shm_slot_claim(shm, 1, 0), 2);
    cr_assert_eq(orc_shm_slot_claim(shm, 1, 1), ORC_ERR);
    orc_shm_destroy(shm);
}

Test(shm, counters_of_two_slots_are_summed)
{
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    int a = orc_shm_slot_claim(shm, 1, 0);
    int b = orc_shm_slot_claim(shm, 1, 1);
    int i200 = orc_shm_status_index(200);
    int i404 = orc_shm_status_index(404);
    orc_counter_add(&shm->slots[a].counters.requests[2][i200], 3);
    orc_counter_add(&shm->slots[b].counters.requests[2][i200], 5);
    orc_counter_add(&shm->slots[b].counters.requests[3][i404], 1);
    orc_counter_add(&shm->slots[a].counters.latency_bucket[0], 2);
    orc_counter_add(&shm->slots[b].counters.latency_bucket[ORC_LATENCY_BUCKETS - 1], 4);
    orc_counter_add(&shm->slots[a].counters.bytes_out, 1000);
    orc_counter_add(&shm->slots[b].counters.bytes_out, 24);
    orc_counter_add(&shm->slots[a].counters.shed, 1);
    orc_counter_add(&shm->slots[b].counters.bad_requests, 6);

    orc_counters_t sum;
    memset(&sum, 0xFF, sizeof(sum)); /* orc_shm_sum must overwrite every word */
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.requests[2][i200], 8);
    cr_assert_eq(sum.requests[3][i404], 1);
    cr_assert_eq(sum.requests[0][i200], 0);
    cr_assert_eq(sum.latency_bucket[0], 2);
    cr_assert_eq(sum.latency_bucket[ORC_LATENCY_BUCKETS - 1], 4);
    cr_assert_eq(sum.bytes_out, 1024);
    cr_assert_eq(sum.shed, 1);
    cr_assert_eq(sum.bad_requests, 6);
    cr_assert_eq(sum.latency_count, 0);
    orc_shm_destroy(shm);
}

Test(shm, retire_folds_and_frees)
{
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    int a = orc_shm_slot_claim(shm, 1, 0);
    int b = orc_shm_slot_claim(shm, 1, 1);
    shm->slots[a].pid = 4242;
    shm->slots[a].inflight = 3;
    shm->slots[a].state = ORC_SLOT_SERVING;
    orc_counter_add(&shm->slots[a].counters.requests[5][1], 10);
    orc_counter_add(&shm->slots[a].counters.latency_sum_us, 123456);
    orc_counter_add(&shm->slots[a].counters.latency_count, 10);
    orc_counter_add(&shm->slots[b].counters.requests[5][1], 4);

    orc_counters_t before, after;
    orc_shm_sum(shm, &before);
    orc_shm_slot_retire(shm, a);
    orc_shm_sum(shm, &after);
    cr_assert_arr_eq(&before, &after, sizeof(before), "retiring a slot changed the sum");
    cr_assert_eq(after.requests[5][1], 14);
    cr_assert_eq(after.latency_sum_us, 123456);

    cr_assert_eq(shm->slots[a].state, ORC_SLOT_FREE);
    cr_assert_eq(shm->slots[a].pid, 0);
    cr_assert_eq(shm->slots[a].inflight, 0);
    cr_assert_eq(shm->fold_seq % 2, 0, "fold_seq left odd");
    cr_assert_neq(shm->fold_seq, 0, "fold_seq not advanced");
    assert_counters_zero(&shm->slots[a].counters, "retired slot");
    cr_assert_eq(shm->retired.requests[5][1], 10);
    cr_assert_eq(shm->slots[b].state, ORC_SLOT_STARTING, "the other slot is untouched");
    cr_assert_eq(shm->slots[b].counters.requests[5][1], 4);

    /* the slot is reusable, with zeroed counters, and counts again */
    int again = orc_shm_slot_claim(shm, 2, 0);
    cr_assert_eq(again, a);
    cr_assert_eq(shm->slots[again].generation, 2);
    assert_counters_zero(&shm->slots[again].counters, "reclaimed slot");
    orc_counter_add(&shm->slots[again].counters.requests[5][1], 1);
    orc_shm_sum(shm, &after);
    cr_assert_eq(after.requests[5][1], 15);
    orc_shm_destroy(shm);
}

/* A deterministic mix of adds, retires and claims: every word of the sum
 * is never below its previous value, and equals what was added. */
Test(shm, sum_never_decreases)
{
    enum { NSLOTS = 6, STEPS = 2000 };
    orc_shm_t *shm = orc_shm_create(NSLOTS);
    cr_assert_not_null(shm);
    for (int i = 0; i < NSLOTS; i++)
        cr_assert_eq(orc_shm_slot_claim(shm, 1, (uint32_t)i), i);

    static orc_counters_t expect, prev, now;
    memset(&expect, 0, sizeof(expect));
    memset(&prev, 0, sizeof(prev));
    uint64_t rng = 0x853c49e6748fea9bULL;
    int retires = 0;
    for (int step = 0; step < STEPS; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int slot = (int)(rng % NSLOTS);
        if (rng % 5 == 0) {
            orc_shm_slot_retire(shm, slot);
            cr_assert_eq(orc_shm_slot_claim(shm, 2, (uint32_t)slot), slot);
            retires++;
        } else {
            size_t w = (size_t)((rng >> 8) % ORC_COUNTERS_WORDS);
            uint64_t n = (rng >> 32) % 100 + 1;
            orc_counter_add(&((_Atomic uint64_t *)&shm->slots[slot].counters)[w], n);
            words(&expect)[w] += n;
        }
        orc_shm_sum(shm, &now);
        for (size_t i = 0; i < ORC_COUNTERS_WORDS; i++)
            cr_assert_geq(words(&now)[i], words(&prev)[i], "step %d: word %zu went from %llu to %llu", step,
                          i, (unsigned long long)words(&prev)[i], (unsigned long long)words(&now)[i]);
        prev = now;
    }
    cr_assert_gt(retires, 0);
    cr_assert_arr_eq(&now, &expect, sizeof(now), "the sum lost or invented counts");
    orc_shm_destroy(shm);
}

Test(shm, child_writes_are_seen_by_parent)
{
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    int slot = orc_shm_slot_claim(shm, 3, 0);
    cr_assert_geq(slot, 0);
    int i201 = orc_shm_status_index(201);

    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        orc_slot_t *s = &shm->slots[slot];
        atomic_store(&s->pid, (int32_t)getpid());
        atomic_store(&s->state, ORC_SLOT_SERVING);
        for (int i = 0; i < 1000; i++)
            orc_counter_add(&s->counters.requests[4][i201], 1);
        orc_counter_add(&s->counters.bytes_out, 777);
        atomic_fetch_add(&s->served, 1000);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    cr_assert_eq(shm->slots[slot].pid, pid);
    cr_assert_eq(shm->slots[slot].state, ORC_SLOT_SERVING);
    cr_assert_eq(shm->slots[slot].served, 1000);
    orc_counters_t sum;
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.requests[4][i201], 1000);
    cr_assert_eq(sum.bytes_out, 777);

    /* the master reaps and folds: the child's counts survive in the totals */
    orc_shm_slot_retire(shm, slot);
    orc_shm_sum(shm, &sum);
    cr_assert_eq(sum.requests[4][i201], 1000);
    cr_assert_eq(sum.bytes_out, 777);
    orc_shm_destroy(shm);
}

/* ---- status codes ----------------------------------------------------- */

Test(shm, status_index_round_trip)
{
    cr_assert_lt(NCODES, ORC_STATUS_MAX);
    for (int i = 0; i < NCODES; i++) {
        int idx = orc_shm_status_index(codes[i]);
        cr_assert_eq(idx, i, "status %d", codes[i]);
        cr_assert_eq(orc_shm_status_code(idx), codes[i]);
    }
    cr_assert_eq(orc_shm_status_code(orc_shm_status_index(200)), 200);
    cr_assert_eq(orc_shm_status_code(orc_shm_status_index(503)), 503);
}

Test(shm, status_other)
{
    int other = orc_shm_status_index(299);
    cr_assert_eq(other, NCODES);
    cr_assert_lt(other, ORC_STATUS_MAX, "the other index must fit in the counters");
    cr_assert_eq(orc_shm_status_code(other), 0);
    cr_assert_eq(orc_shm_status_index(0), other);
    cr_assert_eq(orc_shm_status_index(100), other);
    cr_assert_eq(orc_shm_status_index(418), other);
    cr_assert_eq(orc_shm_status_index(599), other);
    cr_assert_eq(orc_shm_status_index(-1), other);
    cr_assert_neq(orc_shm_status_index(200), other);
}

/* ---- latency buckets -------------------------------------------------- */

Test(shm, latency_bucket_boundaries)
{
    cr_assert_eq(orc_shm_latency_bucket(0), 0);
    cr_assert_eq(orc_shm_latency_bucket(500), 0);
    cr_assert_eq(orc_shm_latency_bucket(501), 1);
    cr_assert_eq(orc_shm_latency_bucket(1000), 1);
    cr_assert_eq(orc_shm_latency_bucket(1001), 2);
    cr_assert_eq(orc_shm_latency_bucket(60000000), ORC_LATENCY_BUCKETS - 2);
    cr_assert_eq(orc_shm_latency_bucket(60000001), ORC_LATENCY_BUCKETS - 1);
    cr_assert_eq(orc_shm_latency_bucket(UINT64_MAX), ORC_LATENCY_BUCKETS - 1);
}

Test(shm, latency_bounds)
{
    cr_assert_eq(orc_shm_latency_bound_us(0), 500);
    cr_assert_eq(orc_shm_latency_bound_us(ORC_LATENCY_BUCKETS - 2), 60000000);
    cr_assert_eq(orc_shm_latency_bound_us(ORC_LATENCY_BUCKETS - 1), UINT64_MAX);
    for (int b = 0; b < ORC_LATENCY_BUCKETS - 1; b++) {
        uint64_t bound = orc_shm_latency_bound_us(b);
        cr_assert_lt(bound, orc_shm_latency_bound_us(b + 1), "bounds must increase at %d", b);
        cr_assert_eq(orc_shm_latency_bucket(bound), b, "a value equal to bound %d is in bucket %d", b, b);
        cr_assert_eq(orc_shm_latency_bucket(bound + 1), b + 1);
    }
}

Test(shm, retiring_a_slot_gives_back_its_client_key_requests)
{
    orc_shm_t *shm = orc_shm_create(4);
    cr_assert_not_null(shm);
    int a = orc_shm_slot_claim(shm, 1, 0), b = orc_shm_slot_claim(shm, 1, 1);
    atomic_store(&shm->keylimits[7].inflight, 5); /* 2 in worker a, 3 in worker b */
    atomic_store(&shm->slots[a].key_inflight[7], 2);
    atomic_store(&shm->slots[b].key_inflight[7], 3);
    orc_shm_slot_retire(shm, a); /* worker a died with its 2 requests */
    cr_assert_eq(atomic_load(&shm->keylimits[7].inflight), 3);
    cr_assert_eq(atomic_load(&shm->slots[a].key_inflight[7]), 0);
    cr_assert_eq(atomic_load(&shm->slots[b].key_inflight[7]), 3);
    orc_shm_destroy(shm);
}
