/* In-memory connection for tests. */
#include "memconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mem_param(void *ctx, const char *name)
{
	struct memconn *m = ctx;
	size_t len = strlen(name);

	for (const char *const *p = m->params; p && *p; p++)
		if (!strncmp(*p, name, len) && (*p)[len] == '=')
			return *p + len + 1;
	return NULL;
}

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct memconn *m = ctx;
	size_t left = m->body_len - m->body_pos;

	if (m->read_chunk && len > m->read_chunk)
		len = m->read_chunk;
	if (len > left)
		len = left;
	memcpy(buf, m->body + m->body_pos, len);
	m->body_pos += len;
	return (ssize_t)len;
}

static int mem_write(void *ctx, const void *buf, size_t len)
{
	struct memconn *m = ctx;
	char *grown = m->is_gone ? NULL : realloc(m->out, m->out_len + len + 1);

	if (!grown)
		return -1;
	memcpy(grown + m->out_len, buf, len);
	m->out = grown;
	m->out_len += len;
	m->out[m->out_len] = '\0';
	return 0;
}

static int mem_flush(void *ctx)
{
	struct memconn *m = ctx;

	if (m->flushes < 16)
		m->flushed_at[m->flushes] = m->out_len;
	m->flushes++;
	return 0;
}

static bool mem_gone(void *ctx)
{
	struct memconn *m = ctx;

	if (m->gone_at && ++m->gone_checks >= m->gone_at)
		m->is_gone = true;
	return m->is_gone;
}

void memconn_init(struct memconn *m, const char *const *params, const char *body)
{
	memset(m, 0, sizeof(*m));
	m->params = params;
	m->body = body ? body : "";
	m->body_len = strlen(m->body);
	m->conn = (struct fb_conn){mem_param, mem_read, mem_write, mem_flush, m, mem_gone};
}

void memconn_free(struct memconn *m)
{
	free(m->out);
	m->out = NULL;
}

const char *memconn_body(const struct memconn *m)
{
	const char *sep = m->out ? strstr(m->out, "\r\n\r\n") : NULL;

	return sep ? sep + 4 : NULL;
}

int memconn_status(const struct memconn *m)
{
	int status;

	if (!m->out || sscanf(m->out, "Status: %d", &status) != 1)
		return -1;
	return status;
}
