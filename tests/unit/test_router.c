/*
 * test_router.c - path matching against a small table of our own:
 * literal and {param} segments, 404 versus 405 with the Allow methods.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "common/orc.h"
#include "worker/http/router.h"

TestSuite(router, .timeout = 10);

enum {
    R_ROOT,
    R_HEALTH,
    R_HEALTH_SERVICE,
    R_ITEMS_CREATE,
    R_ITEMS_LIST,
    R_ITEM_DELETE,
    R_ITEM_TAG,
    R_FIVE_PARAMS,
};

static const orc_route_t table[] = {
    [R_ROOT] = {ORC_METHOD_GET, "/", NULL, "root"},
    [R_HEALTH] = {ORC_METHOD_GET | ORC_METHOD_HEAD, "/api/health", NULL, "health"},
    [R_HEALTH_SERVICE] = {ORC_METHOD_GET, "/api/health/service/{name}", NULL, "health_service"},
    [R_ITEMS_CREATE] = {ORC_METHOD_POST, "/api/items", NULL, "items_create", ORC_ACCESS_ADMIN},
    [R_ITEMS_LIST] = {ORC_METHOD_GET, "/api/items", NULL, "items_list"},
    [R_ITEM_DELETE] = {ORC_METHOD_DELETE, "/api/items/{id}", NULL, "item_delete", ORC_ACCESS_ADMIN},
    [R_ITEM_TAG] = {ORC_METHOD_GET, "/api/items/{id}/tags/{tag}", NULL, "item_tag"},
    [R_FIVE_PARAMS] = {ORC_METHOD_GET, "/p/{a}/{b}/{c}/{d}/{e}", NULL, "five"},
};

static orc_route_match_t m;

static void match(unsigned method, const char *path)
{
    memset(&m, 0x5A, sizeof(m)); /* the router must set every field it reports */
    orc_router_match(table, ORC_ARRAY_LEN(table), method, path, &m);
}

static void assert_404(void)
{
    cr_assert_eq(m.route, -1);
    cr_assert_eq(m.allow, 0);
    cr_assert_eq(m.nparams, 0);
}

Test(router, exact_match)
{
    match(ORC_METHOD_GET, "/api/health");
    cr_assert_eq(m.route, R_HEALTH);
    cr_assert_eq(m.nparams, 0);
    cr_assert_eq(m.allow, ORC_METHOD_GET | ORC_METHOD_HEAD);
}

Test(router, exact_match_other_method_of_same_route)
{
    match(ORC_METHOD_HEAD, "/api/health");
    cr_assert_eq(m.route, R_HEALTH);
}

Test(router, root)
{
    match(ORC_METHOD_GET, "/");
    cr_assert_eq(m.route, R_ROOT);
    cr_assert_eq(m.nparams, 0);
}

Test(router, same_path_two_methods)
{
    match(ORC_METHOD_POST, "/api/items");
    cr_assert_eq(m.route, R_ITEMS_CREATE);
    cr_assert_eq(m.allow, ORC_METHOD_GET | ORC_METHOD_POST);
    match(ORC_METHOD_GET, "/api/items");
    cr_assert_eq(m.route, R_ITEMS_LIST);
    cr_assert_eq(m.allow, ORC_METHOD_GET | ORC_METHOD_POST);
}

Test(router, param_capture)
{
    match(ORC_METHOD_GET, "/api/health/service/redis");
    cr_assert_eq(m.route, R_HEALTH_SERVICE);
    cr_assert_eq(m.nparams, 1);
    cr_assert_str_eq(m.params[0], "redis");
}

Test(router, two_params_in_order)
{
    match(ORC_METHOD_GET, "/api/items/42/tags/blue-green");
    cr_assert_eq(m.route, R_ITEM_TAG);
    cr_assert_eq(m.nparams, 2);
    cr_assert_str_eq(m.params[0], "42");
    cr_assert_str_eq(m.params[1], "blue-green");
}

Test(router, param_capture_with_its_method)
{
    match(ORC_METHOD_DELETE, "/api/items/7");
    cr_assert_eq(m.route, R_ITEM_DELETE);
    cr_assert_eq(m.nparams, 1);
    cr_assert_str_eq(m.params[0], "7");
}

Test(router, trailing_slash_does_not_match)
{
    match(ORC_METHOD_GET, "/api/health/");
    assert_404();
    match(ORC_METHOD_GET, "/api/health/service/redis/");
    assert_404();
    match(ORC_METHOD_GET, "/api/items/");
    assert_404();
}

Test(router, prefixes_and_extensions_do_not_match)
{
    match(ORC_METHOD_GET, "/api/healthz");
    assert_404();
    match(ORC_METHOD_GET, "/api/healt");
    assert_404();
    match(ORC_METHOD_GET, "/api");
    assert_404();
    match(ORC_METHOD_GET, "");
    assert_404();
    match(ORC_METHOD_GET, "/api/health/service/redis/extra");
    assert_404();
}

Test(router, method_not_allowed)
{
    match(ORC_METHOD_PUT, "/api/health");
    cr_assert_eq(m.route, -1);
    cr_assert_eq(m.allow, ORC_METHOD_GET | ORC_METHOD_HEAD);

    match(ORC_METHOD_DELETE, "/api/items");
    cr_assert_eq(m.route, -1);
    cr_assert_eq(m.allow, ORC_METHOD_GET | ORC_METHOD_POST);

    match(ORC_METHOD_GET, "/api/items/5");
    cr_assert_eq(m.route, -1);
    cr_assert_eq(m.allow, ORC_METHOD_DELETE);

    match(ORC_METHOD_OTHER, "/");
    cr_assert_eq(m.route, -1);
    cr_assert_eq(m.allow, ORC_METHOD_GET);
}

Test(router, not_found)
{
    match(ORC_METHOD_GET, "/nope");
    assert_404();
    match(ORC_METHOD_POST, "/api/unknown/thing");
    assert_404();
}

Test(router, param_longest_accepted)
{
    char path[64 + ORC_ROUTE_PARAM_SIZE];
    char name[ORC_ROUTE_PARAM_SIZE];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0'; /* ORC_ROUTE_PARAM_SIZE - 1 characters */
    snprintf(path, sizeof(path), "/api/health/service/%s", name);
    match(ORC_METHOD_GET, path);
    cr_assert_eq(m.route, R_HEALTH_SERVICE);
    cr_assert_eq(m.nparams, 1);
    cr_assert_str_eq(m.params[0], name);
}

Test(router, param_too_long_rejected)
{
    char path[64 + ORC_ROUTE_PARAM_SIZE];
    char name[ORC_ROUTE_PARAM_SIZE + 1];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0'; /* ORC_ROUTE_PARAM_SIZE characters */
    snprintf(path, sizeof(path), "/api/health/service/%s", name);
    match(ORC_METHOD_GET, path);
    assert_404();
}

Test(router, empty_segment_is_not_a_param)
{
    match(ORC_METHOD_GET, "/api/health/service/");
    assert_404();
    match(ORC_METHOD_GET, "/api/items//tags/x");
    assert_404();
    match(ORC_METHOD_GET, "/api/items/1/tags/");
    assert_404();
    match(ORC_METHOD_DELETE, "/api/items/");
    assert_404();
}

Test(router, more_params_than_the_maximum)
{
    cr_assert_eq(ORC_ROUTE_PARAMS_MAX, 4, "the table's five-param route assumes a maximum of 4");
    match(ORC_METHOD_GET, "/p/1/2/3/4/5");
    assert_404();
}

Test(router, empty_table)
{
    memset(&m, 0x5A, sizeof(m));
    orc_router_match(table, 0, ORC_METHOD_GET, "/", &m);
    assert_404();
}

/* ---- Allow header ----------------------------------------------------- */

Test(router, allow_header_get_head)
{
    char buf[64];
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_GET | ORC_METHOD_HEAD, buf, sizeof(buf)), ORC_OK);
    cr_assert_str_eq(buf, "GET, HEAD");
}

Test(router, allow_header_all_in_order)
{
    char buf[128];
    unsigned all = ORC_METHOD_OPTIONS | ORC_METHOD_HEAD | ORC_METHOD_PATCH | ORC_METHOD_DELETE |
                   ORC_METHOD_PUT | ORC_METHOD_POST | ORC_METHOD_GET;
    cr_assert_eq(orc_router_allow_header(all, buf, sizeof(buf)), ORC_OK);
    cr_assert_str_eq(buf, "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
}

Test(router, allow_header_single_and_empty)
{
    char buf[32];
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_DELETE, buf, sizeof(buf)), ORC_OK);
    cr_assert_str_eq(buf, "DELETE");
    cr_assert_eq(orc_router_allow_header(0, buf, sizeof(buf)), ORC_OK);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_OTHER, buf, sizeof(buf)), ORC_OK);
    cr_assert_str_eq(buf, "", "OTHER has no name to list");
}

Test(router, allow_header_exact_fit)
{
    char buf[16];
    memset(buf, 'Z', sizeof(buf));
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_GET | ORC_METHOD_HEAD, buf, strlen("GET, HEAD") + 1),
                 ORC_OK);
    cr_assert_str_eq(buf, "GET, HEAD");
    cr_assert_eq(buf[strlen("GET, HEAD") + 1], 'Z');
}

Test(router, allow_header_too_small)
{
    char buf[16];
    memset(buf, 'Z', sizeof(buf));
    size_t size = strlen("GET, HEAD"); /* no room for the NUL */
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_GET | ORC_METHOD_HEAD, buf, size), ORC_ERR);
    for (size_t i = size; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], 'Z', "wrote past the buffer at %zu", i);
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_GET, buf, 3), ORC_ERR);
    cr_assert_eq(orc_router_allow_header(ORC_METHOD_GET, buf, 4), ORC_OK);
    cr_assert_str_eq(buf, "GET");
}
