/* libFuzzer target: the virtio-vsock device (src/vmm/virtio/vsock*.c) driven
 * by a hostile guest, without KVM and without the I/O thread: the input is a
 * program of guest actions (tx packets with any header, rx buffers of any
 * size, ring and register pokes, snapshot blobs) and host actions (connect,
 * write, close), with I/O rounds run in between (fb_vsock_io_step).
 *
 * Besides ASan/UBSan, while the guest played by the rules of the rings
 * (no pokes, no register writes) every rx buffer the device returns is
 * checked: a head the guest posted, a length within the buffer, a
 * well-formed header, and data never beyond the credit the guest gave. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/vsock_driver.h"
#include "util/error.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/vsock.h"
#include "vmm/virtio/vsock_impl.h"
#include "vmm/virtio/vsock_proto.h"

#define MEM_SIZE  (512 * 1024)
#define GUEST_CID 3
#define HDR	  ((uint32_t)sizeof(struct fb_vsock_hdr))
#define MAX_OPS	  256
#define MAX_HOST  8
#define BUF_SIZE  0x2000 /* guest buffer slots */
#define RX_BUFS	  0x10000
#define TX_BUFS	  0x40000

static const uint64_t ring_base[3] = {0x1000, 0x2000, 0x3000};

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint32_t get(struct cursor *c, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < bytes && c->n; i++, c->p++, c->n--)
		v |= (uint32_t)*c->p << (8 * i);
	return v;
}

struct conn_model { /* what the device may send on one connection */
	uint32_t host_port, guest_port;
	uint32_t rx_cnt, buf_alloc, fwd_cnt;
	bool unknown; /* the guest spoke on it before we saw its REQUEST */
};

struct fuzz {
	uint8_t *mem;
	struct fb_guest_mem gm;
	struct fb_vsock *dev;
	struct vq_driver q[3];
	uint32_t rx_cap[16];	 /* writable bytes of the rx chain at each head */
	bool outstanding[2][16]; /* head offered on rx/tx, not returned yet */
	bool rules_kept;	 /* the oracles apply */
	struct conn_model conns[16];
	unsigned nconns;
	uint32_t guessed[64][2]; /* port pairs of packets sent to no known connection */
	unsigned nguessed;
	int host_fd[MAX_HOST];
	unsigned nhost;
};

static void irq(void *opaque)
{
	(void)opaque;
}

static void mmio_w(struct fuzz *f, uint64_t off, uint32_t v)
{
	fb_vsock_mmio_write(f->dev, off, &v, 4);
}

static uint32_t mmio_r(struct fuzz *f, uint64_t off)
{
	uint32_t v;

	fb_vsock_mmio_read(f->dev, off, &v, 4);
	return v;
}

static void set_desc(struct fuzz *f, int qi, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	vq_driver_set_desc(&f->q[qi], i, addr, len, flags, next);
}

/* A slot (pair of descriptors) whose head the device has not got, or -1. */
static int free_slot(struct fuzz *f, int qi, unsigned hint)
{
	unsigned slots = f->q[qi].num / 2 ? f->q[qi].num / 2 : 1;

	for (unsigned i = 0; i < slots; i++) {
		unsigned s = (hint + i) % slots;

		if (!f->outstanding[qi][2 * s % f->q[qi].num])
			return (int)s;
	}
	return -1;
}

static void offer(struct fuzz *f, int qi, uint16_t head)
{
	f->outstanding[qi][head] = true;
	vq_driver_offer(&f->q[qi], head);
}

/* Linux's probe sequence, with the queue size from the input. */
static void probe(struct fuzz *f, uint16_t num)
{
	vq_driver_negotiate(f->dev);
	for (unsigned qi = 0; qi < 3; qi++)
		vq_driver_setup(&f->q[qi], f->dev, qi, f->mem, num, ring_base[qi], 0x400, 0x800);
	mmio_w(f, FB_VIRTIO_MMIO_STATUS, 15);
}

static struct conn_model *model_by_ports(struct fuzz *f, uint32_t host_port, uint32_t guest_port)
{
	for (unsigned i = 0; i < f->nconns; i++) {
		if (f->conns[i].host_port == host_port && f->conns[i].guest_port == guest_port)
			return &f->conns[i];
	}
	return NULL;
}

/* One rx packet the device returned: check it against the rules. */
static void check_rx(struct fuzz *f, uint32_t id, uint32_t len)
{
	struct vq_driver *q = &f->q[FB_VSOCK_QUEUE_RX];
	struct fb_vsock_hdr h;
	uint64_t addr;
	uint8_t *d;

	if (id >= q->num || len > f->rx_cap[id] || len < HDR)
		abort(); /* not our head, or longer than the buffer, or no header */
	d = f->mem + q->desc + 16ULL * id;
	memcpy(&addr, d, 8);
	memcpy(&h, f->mem + le64toh(addr), HDR); /* first descriptor holds >= 44 bytes */
	uint16_t op = le16toh(h.op);
	uint32_t plen = le32toh(h.len);
	if (le64toh(h.src_cid) != FB_VSOCK_HOST_CID || le64toh(h.dst_cid) != GUEST_CID ||
	    le16toh(h.type) != FB_VSOCK_TYPE_STREAM || op < FB_VSOCK_OP_REQUEST ||
	    op > FB_VSOCK_OP_CREDIT_UPDATE || plen != len - HDR ||
	    plen > FB_VSOCK_MAX_PKT_PAYLOAD || (op != FB_VSOCK_OP_RW && plen))
		abort();
	uint32_t host_port = le32toh(h.src_port), guest_port = le32toh(h.dst_port);
	struct conn_model *m = model_by_ports(f, host_port, guest_port);
	if (op == FB_VSOCK_OP_REQUEST && !m && f->nconns < 16) {
		m = &f->conns[f->nconns++];
		*m = (struct conn_model){.host_port = host_port, .guest_port = guest_port};
		for (unsigned i = 0; i < f->nguessed; i++)
			m->unknown |=
			    f->guessed[i][0] == host_port && f->guessed[i][1] == guest_port;
		m->unknown |= f->nguessed == 64; /* lost track */
	}
	if (op == FB_VSOCK_OP_RW && !m)
		abort(); /* data on a connection that was never requested */
	if (op == FB_VSOCK_OP_RW && !m->unknown) {
		m->rx_cnt += plen;
		if ((uint32_t)(m->rx_cnt - m->fwd_cnt) > m->buf_alloc)
			abort(); /* more than the guest's credit */
	}
}

/* Take what the device returned on both rings. */
static void drain_used(struct fuzz *f)
{
	for (int qi = 0; qi < 2; qi++) {
		struct vq_driver *q = &f->q[qi];
		uint32_t id, len;

		if (f->rules_kept && (uint16_t)(vq_driver_used_idx(q) - q->last_used) > q->num)
			abort(); /* the device returned more than was offered */
		while (vq_driver_take_used(q, &id, &len)) {
			if (qi == FB_VSOCK_QUEUE_RX && f->rules_kept)
				check_rx(f, id, len);
			f->outstanding[qi][id % 16] = false;
		}
	}
}

static void step(struct fuzz *f)
{
	fb_vsock_io_step(f->dev, 0);
	drain_used(f);
}

/* A guest packet on tx: header fields and payload from the input. Fields
 * are read in this order: sel, bits, slot, want, [src_cid], [dst_cid],
 * [type], op, flags, [buf_alloc], fwd_cnt, [host_port, guest_port], lie,
 * payload (bits: 1 src_cid, 2 dst_cid, 4 type, 8 buf_alloc given, 16 lying
 * length, 32 one descriptor, 64 filler payload; tests/fuzz/make-seeds
 * writes programs in the same encoding). */
static void op_tx(struct fuzz *f, struct cursor *c)
{
	struct fb_vsock_hdr h;
	unsigned sel = get(c, 1), bits = get(c, 1);
	int free = free_slot(f, FB_VSOCK_QUEUE_TX, get(c, 1));
	uint32_t want = get(c, 2) % 4097, len, host_port, guest_port;
	/* Every slot still with the device (it is not processing): reuse one,
	 * as a buggy guest would; the device then reads the new contents for
	 * the old entry too, which the model cannot follow. */
	uint16_t slot = (uint16_t)(free < 0 ? 0 : free);

	if (free < 0)
		f->rules_kept = false;

	h.src_cid = htole64(bits & 1 ? get(c, 4) : GUEST_CID);
	h.dst_cid = htole64(bits & 2 ? get(c, 4) : FB_VSOCK_HOST_CID);
	h.type = htole16(bits & 4 ? get(c, 2) : FB_VSOCK_TYPE_STREAM);
	h.op = htole16(get(c, 1) % 9);
	h.flags = htole32(get(c, 1));
	h.buf_alloc = htole32(bits & 8 ? get(c, 4) : FB_VSOCK_BUF_ALLOC);
	h.fwd_cnt = htole32(get(c, 4));
	if (f->nconns && sel < 0xc0) {
		host_port = f->conns[sel % f->nconns].host_port;
		guest_port = f->conns[sel % f->nconns].guest_port;
	} else {
		host_port = get(c, 4);
		guest_port = get(c, 4);
	}
	h.src_port = htole32(guest_port);
	h.dst_port = htole32(host_port);
	uint32_t lie = get(c, 2) % 4097;
	uint64_t buf = TX_BUFS + (uint64_t)slot * BUF_SIZE;
	if (bits & 64) { /* want bytes of filler: much traffic from a short input */
		len = want;
		memset(f->mem + buf + HDR, (int)lie, len);
	} else { /* the payload: the next input bytes */
		len = want < c->n ? want : (uint32_t)c->n;
		memcpy(f->mem + buf + HDR, c->p, len);
		c->p += len;
		c->n -= len;
	}
	uint32_t hdr_len = bits & 16 ? lie : len; /* a lying header */
	h.len = htole32(hdr_len);
	memcpy(f->mem + buf, &h, HDR);
	if (bits & 32) { /* header and payload in one descriptor */
		set_desc(f, FB_VSOCK_QUEUE_TX, 2 * slot, buf, HDR + len, 0, 0);
	} else {
		set_desc(f, FB_VSOCK_QUEUE_TX, 2 * slot, buf, HDR, len ? FB_VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(2 * slot + 1));
		set_desc(f, FB_VSOCK_QUEUE_TX, 2 * slot + 1, buf + HDR, len, 0, 0);
	}
	offer(f, FB_VSOCK_QUEUE_TX, (uint16_t)(2 * slot));
	/* What the device takes from this packet, if it takes it. */
	struct conn_model *m = model_by_ports(f, host_port, guest_port);
	if (!m && f->nguessed < 64) {
		f->guessed[f->nguessed][0] = host_port;
		f->guessed[f->nguessed++][1] = guest_port;
	}
	if (m && le64toh(h.src_cid) == GUEST_CID && le64toh(h.dst_cid) == FB_VSOCK_HOST_CID &&
	    le16toh(h.type) == FB_VSOCK_TYPE_STREAM && hdr_len <= len) {
		m->buf_alloc = le32toh(h.buf_alloc);
		m->fwd_cnt = le32toh(h.fwd_cnt);
	}
}

/* Rx buffers of any size, one or two descriptors each. */
static void op_rx(struct fuzz *f, struct cursor *c)
{
	static const uint32_t sizes[] = {HDR, HDR + 1, 100, 4096, BUF_SIZE};
	unsigned count = get(c, 1) % (f->q[FB_VSOCK_QUEUE_RX].num / 2 + 1);

	/* Each: pick (size index, bit 3: size in the next 2 bytes, bit 4: split). */
	for (unsigned i = 0; i < count; i++) {
		unsigned pick = get(c, 1);
		int free = free_slot(f, FB_VSOCK_QUEUE_RX, i);
		uint16_t slot = (uint16_t)(free < 0 ? 0 : free);
		uint32_t size = pick & 8 ? get(c, 2) % (BUF_SIZE + 1) : sizes[pick % 5];
		uint64_t buf = RX_BUFS + (uint64_t)slot * BUF_SIZE;
		uint16_t head = (uint16_t)(2 * slot);

		if (size < HDR || free < 0)	 /* the device must fail the queue, or */
			f->rules_kept = false;	 /* one head twice in the ring: no oracle */
		if ((pick & 16) && size > HDR) { /* header, then payload */
			set_desc(f, FB_VSOCK_QUEUE_RX, head, buf, HDR,
				 FB_VIRTQ_DESC_F_WRITE | FB_VIRTQ_DESC_F_NEXT, head + 1);
			set_desc(f, FB_VSOCK_QUEUE_RX, head + 1, buf + HDR, size - HDR,
				 FB_VIRTQ_DESC_F_WRITE, 0);
		} else {
			set_desc(f, FB_VSOCK_QUEUE_RX, head, buf, size, FB_VIRTQ_DESC_F_WRITE, 0);
		}
		f->rx_cap[head] = size;
		offer(f, FB_VSOCK_QUEUE_RX, head);
	}
	mmio_w(f, FB_VIRTIO_MMIO_QUEUE_NOTIFY, FB_VSOCK_QUEUE_RX);
}

static void op_connect(struct fuzz *f, struct cursor *c)
{
	uint32_t port = get(c, 1) & 1 ? get(c, 4) : 1024;
	int fd;

	if (f->nhost >= MAX_HOST)
		return;
	fd = fb_vsock_connect(f->dev, port);
	if (fd < 0)
		return;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	f->host_fd[f->nhost++] = fd;
}

/* Host side of a connection: what (0 write, 1 read, 2 shutdown, 3 close),
 * which, then n for writes (bytes) and shutdowns (odd: SHUT_WR). */
static void op_host(struct fuzz *f, struct cursor *c)
{
	static uint8_t bytes[70000];
	unsigned what = get(c, 1) % 4, i = get(c, 1);
	uint32_t n = get(c, 2);

	n += get(c, 1) & 1 ? 65535 : 0;
	if (!f->nhost || f->host_fd[i % f->nhost] < 0)
		return;
	int *fd = &f->host_fd[i % f->nhost];
	switch (what) {
	case 0:
		memset(bytes, (int)n, n < sizeof(bytes) ? n : sizeof(bytes));
		if (send(*fd, bytes, n < sizeof(bytes) ? n : sizeof(bytes),
			 MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
		    errno != EAGAIN && errno != EPIPE && errno != ECONNRESET)
			abort();
		break;
	case 1:
		while (recv(*fd, bytes, sizeof(bytes), MSG_DONTWAIT) > 0)
			;
		break;
	case 2:
		shutdown(*fd, n & 1 ? SHUT_WR : SHUT_RDWR);
		break;
	default:
		close(*fd);
		*fd = -1;
		break;
	}
}

/* Anything at all in the ring area or a register: the oracles stop there. */
static void op_poke(struct fuzz *f, struct cursor *c)
{
	uint32_t off = get(c, 2) % 0x3c00, len = get(c, 1) % 16;

	f->rules_kept = false;
	for (uint32_t i = 0; i < len; i++)
		f->mem[ring_base[0] + off + i] = (uint8_t)get(c, 1);
}

static void op_mmio(struct fuzz *f, struct cursor *c)
{
	static const uint16_t regs[] = {
	    FB_VIRTIO_MMIO_STATUS,	     FB_VIRTIO_MMIO_QUEUE_SEL,
	    FB_VIRTIO_MMIO_QUEUE_NUM,	     FB_VIRTIO_MMIO_QUEUE_READY,
	    FB_VIRTIO_MMIO_QUEUE_NOTIFY,     FB_VIRTIO_MMIO_QUEUE_DESC_LOW,
	    FB_VIRTIO_MMIO_QUEUE_DRIVER_LOW, FB_VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
	    FB_VIRTIO_MMIO_DRIVER_FEATURES,  FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL,
	    FB_VIRTIO_MMIO_INTERRUPT_ACK,    FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL,
	    FB_VIRTIO_MMIO_CONFIG,	     FB_VIRTIO_MMIO_SHM_SEL,
	};
	unsigned r = get(c, 1);
	uint32_t v = get(c, 4);
	uint64_t wide = 0;

	f->rules_kept = false;
	if (r & 0x80) { /* odd sizes and offsets, reads too */
		fb_vsock_mmio_read(f->dev, v & 0x1ff, &wide, 1u << (r & 3));
		fb_vsock_mmio_write(f->dev, v & 0x1ff, &wide, 1u << ((r >> 2) & 3));
		return;
	}
	mmio_w(f, regs[r % (sizeof(regs) / sizeof(regs[0]))], v);
	mmio_r(f, FB_VIRTIO_MMIO_INTERRUPT_STATUS);
}

/* Save the device, corrupt the blob as the input says, restore it into a
 * fresh device: a refused blob keeps the old device. */
static void op_snapshot(struct fuzz *f, struct cursor *c)
{
	void *blob;
	size_t len;
	unsigned pos = get(c, 2), val = get(c, 1);
	bool corrupt = get(c, 1) & 1;

	if (fb_vsock_connection_count(f->dev) || fb_vsock_save(f->dev, &blob, &len))
		return;
	if (corrupt && len)
		((uint8_t *)blob)[pos % len] ^= (uint8_t)(val | 1);
	struct fb_vsock *fresh = fb_vsock_create(&f->gm, GUEST_CID, irq, NULL);
	if (fresh && fb_vsock_restore(fresh, blob, len) == 0) {
		fb_vsock_destroy(f->dev);
		f->dev = fresh;
		f->rules_kept &= !corrupt;
	} else if (fresh) {
		fb_vsock_destroy(fresh);
	}
	free(blob);
}

static void run(struct fuzz *f, struct cursor *c)
{
	for (unsigned n = 0; n < MAX_OPS && c->n; n++) {
		unsigned op = get(c, 1);

		switch (op % 12) {
		case 0:
		case 1:
			op_tx(f, c);
			break;
		case 2:
			op_rx(f, c);
			break;
		case 3:
			op_connect(f, c);
			break;
		case 4:
		case 5:
		case 6:
			op_host(f, c);
			break;
		case 7:
			op_poke(f, c);
			break;
		case 8:
			op_mmio(f, c);
			break;
		case 9: /* 0: deadlines expire at the next round */
			op = get(c, 1);
			fb_vsock_set_timeouts(f->dev, op & 1 ? 0 : 5000, op & 2 ? 0 : 2000);
			break;
		case 10:
			op_snapshot(f, c);
			break;
		default:
			break;
		}
		step(f);
	}
	step(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = {data, size};
	static struct fuzz f;

	memset(&f, 0, sizeof(f));
	f.mem = calloc(1, MEM_SIZE);
	if (!f.mem)
		return 0;
	f.gm = (struct fb_guest_mem){.host = f.mem, .size = MEM_SIZE};
	f.dev = fb_vsock_create(&f.gm, GUEST_CID, irq, NULL);
	if (f.dev) {
		f.rules_kept = true;
		probe(&f, (uint16_t)(2u << (get(&c, 1) % 4))); /* 2..16 */
		run(&f, &c);
		fb_vsock_destroy(f.dev);
	}
	for (unsigned i = 0; i < f.nhost; i++) {
		if (f.host_fd[i] >= 0)
			close(f.host_fd[i]);
	}
	free(f.mem);
	return 0;
}
