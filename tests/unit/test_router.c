/* Routes, 404 and 405 with Allow. */
#include "fcgi/router.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void expect(const char *method, const char *path, int status, enum fb_route route,
		   const char *allow)
{
	struct fb_route_match m;

	fb_router_match(method, path, &m);
	assert_int_equal(m.status, status);
	assert_int_equal(m.route, route);
	if (allow)
		assert_string_equal(m.allow, allow);
	else
		assert_null(m.allow);
}

static void test_routes(void **state)
{
	(void)state;
	expect("POST", "/v1/exec", 0, FB_ROUTE_EXEC, NULL);
	expect("POST", "/v1/exec/batch", 0, FB_ROUTE_BATCH, NULL);
	expect("GET", "/v1/health", 0, FB_ROUTE_HEALTH, NULL);
	expect("GET", "/v1/metrics", 0, FB_ROUTE_METRICS, NULL);
}

static void test_wrong_method(void **state)
{
	(void)state;
	expect("GET", "/v1/exec", 405, FB_ROUTE_NONE, "POST");
	expect("PUT", "/v1/exec/batch", 405, FB_ROUTE_NONE, "POST");
	expect("POST", "/v1/health", 405, FB_ROUTE_NONE, "GET");
	expect("DELETE", "/v1/metrics", 405, FB_ROUTE_NONE, "GET");
	expect("", "/v1/health", 405, FB_ROUTE_NONE, "GET");
	expect("post", "/v1/exec", 405, FB_ROUTE_NONE, "POST"); /* methods are case-sensitive */
}

static void test_unknown_path(void **state)
{
	(void)state;
	expect("GET", "/", 404, FB_ROUTE_NONE, NULL);
	expect("POST", "/v1/exec/", 404, FB_ROUTE_NONE, NULL);
	expect("POST", "/v1/execute", 404, FB_ROUTE_NONE, NULL);
	expect("GET", "/v2/health", 404, FB_ROUTE_NONE, NULL);
	expect("GET", "", 404, FB_ROUTE_NONE, NULL);
	expect("GET", "/V1/HEALTH", 404, FB_ROUTE_NONE, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_wrong_method),
	    cmocka_unit_test(test_unknown_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
