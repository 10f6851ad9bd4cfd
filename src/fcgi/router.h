/* Method + path -> API endpoint. */
#ifndef FORKBOX_FCGI_ROUTER_H
#define FORKBOX_FCGI_ROUTER_H

enum fb_route {
	FB_ROUTE_NONE,
	FB_ROUTE_EXEC,	  /* POST /v1/exec */
	FB_ROUTE_BATCH,	  /* POST /v1/exec/batch */
	FB_ROUTE_HEALTH,  /* GET /v1/health */
	FB_ROUTE_METRICS, /* GET /v1/metrics */
};

struct fb_route_match {
	enum fb_route route; /* FB_ROUTE_NONE unless status is 0 */
	int status;	     /* 0 matched, 404 unknown path, 405 wrong method */
	const char *allow;   /* with 405: value of the Allow header */
};

void fb_router_match(const char *method, const char *path, struct fb_route_match *m);

#endif
