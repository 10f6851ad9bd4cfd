#include "util/cpio.h"

#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NEWC_MAGIC   "070701"
#define HEADER_SIZE  110
#define NAME_MAX_LEN 255

void fb_cpio_init(struct fb_cpio *c)
{
	*c = (struct fb_cpio){.next_ino = 1};
}

static int reserve(struct fb_cpio *c, size_t more)
{
	if (c->cap - c->len >= more)
		return 0;
	size_t cap = c->cap ? c->cap : 4096;
	while (cap - c->len < more)
		cap *= 2;
	uint8_t *grown = realloc(c->data, cap);
	if (!grown)
		return fb_error("cpio: out of memory (%zu bytes)", cap);
	c->data = grown;
	c->cap = cap;
	return 0;
}

static void pad4(struct fb_cpio *c)
{
	while (c->len % 4)
		c->data[c->len++] = 0;
}

static int add_entry(struct fb_cpio *c, const char *name, unsigned mode, const void *data,
		     size_t len)
{
	size_t name_len = strlen(name) + 1;
	if (name_len > NAME_MAX_LEN || len > 0xffffffffu)
		return fb_error("cpio: entry '%s' too large", name);
	if (reserve(c, HEADER_SIZE + name_len + len + 8) < 0)
		return -1;
	char header[HEADER_SIZE + 1];
	/* magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	 * devminor, rdevmajor, rdevminor, namesize, check */
	snprintf(header, sizeof(header), "%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		 NEWC_MAGIC, c->next_ino++, mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u,
		 (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)name_len, 0u);
	memcpy(c->data + c->len, header, HEADER_SIZE);
	c->len += HEADER_SIZE;
	memcpy(c->data + c->len, name, name_len);
	c->len += name_len;
	pad4(c);
	if (len)
		memcpy(c->data + c->len, data, len);
	c->len += len;
	pad4(c);
	return 0;
}

int fb_cpio_add_dir(struct fb_cpio *c, const char *name, unsigned mode)
{
	return add_entry(c, name, S_IFDIR | (mode & 07777), NULL, 0);
}

int fb_cpio_add_file(struct fb_cpio *c, const char *name, unsigned mode, const void *data,
		     size_t len)
{
	return add_entry(c, name, S_IFREG | (mode & 07777), data, len);
}

int fb_cpio_finish(struct fb_cpio *c)
{
	return add_entry(c, "TRAILER!!!", 0, NULL, 0);
}

void fb_cpio_free(struct fb_cpio *c)
{
	free(c->data);
	*c = (struct fb_cpio){0};
}
