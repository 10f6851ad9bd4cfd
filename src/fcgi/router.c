/* The API's route table. */
#include "fcgi/router.h"

#include <stddef.h>
#include <string.h>

static const struct {
	const char *path;
	const char *method;
	enum fb_route route;
} routes[] = {
    {"/v1/exec", "POST", FB_ROUTE_EXEC},
    {"/v1/exec/batch", "POST", FB_ROUTE_BATCH},
    {"/v1/health", "GET", FB_ROUTE_HEALTH},
    {"/v1/metrics", "GET", FB_ROUTE_METRICS},
};

void fb_router_match(const char *method, const char *path, struct fb_route_match *m)
{
	m->route = FB_ROUTE_NONE;
	m->status = 404;
	m->allow = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (strcmp(method, routes[i].method) != 0) {
			m->status = 405;
			m->allow = routes[i].method;
			return;
		}
		m->route = routes[i].route;
		m->status = 0;
		return;
	}
}
