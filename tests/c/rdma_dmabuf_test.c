// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * rdma-dmabuf-test: RDMA into and out of a VFIO BAR through a dma-buf MR,
 * end to end: libp2pmr exports a range of the BAR and registers it, two
 * connected RC QPs of the RDMA device (rxe) move data, and the bytes are
 * checked where they land: in the host's file behind the BAR (ivshmem) or
 * through the BAR's VFIO mmap. Revocation by the exporter must stop all
 * access, with the completion statuses documented in
 * docs/rxe-dmabuf-mr.md, and traffic must resume once the BAR is back.
 *
 *   rdma-dmabuf-test --list
 *   rdma-dmabuf-test CASE --device BDF [--bar N] [--file F] [--ib-dev NAME]
 *                    [--gid-index N] [--seconds S]
 *
 *   --device     the exporting device (bound to vfio-pci)
 *   --file       the host file backing the BAR (ivshmem), to check bytes
 *   --ib-dev     the RDMA device (default rxe0); --gid-index its GID (0)
 * Exit status 0 when the case holds.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/udmabuf.h>
#include <linux/vfio.h>

#include "cases.h"
#include "check.h"
#include "kcounts.h"
#include "p2pmr.h"
#include "pattern.h"
#include "ranges.h"
#include "rdma_opts.h"
#include "rxe_flush.h"
#include "unpriv.h"
#include "verbs_loop.h"
#include "verbs_qp.h"
#include "vfio_ctl.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
/* The MR's own address space: any base with the BAR offset's page offset. */
#define IOVA_BASE 0x7f0000000000ULL
#define ACCESS_ALL (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

struct ctx {
	const char *addr;
	const char *file;
	struct rdma_opts rdma;	/* --ib-dev, --gid-index */
	int seconds;
	unsigned int bar;
	uint64_t page;
	struct p2pmr_device *dev;
	struct verbs_loop loop;
	volatile uint8_t *bar_map;	/* the BAR through VFIO mmap */
	size_t bar_len;
};

/* Host memory registered with ibv_reg_mr. */
struct host_buf {
	uint8_t *buf;
	size_t len;
	struct ibv_mr *mr;
};

/* A range of the BAR exported and registered as a dma-buf MR. */
struct bar_buf {
	uint64_t offset;	/* in the BAR */
	size_t len;
	int fd;
	struct p2pmr_mr *mr;
};

static int host_buf_reg(struct ctx *c, size_t len, int access, struct host_buf *h)
{
	int err;

	h->len = len;
	h->buf = aligned_alloc(c->page, len);
	if (!h->buf)
		return -ENOMEM;
	memset(h->buf, 0, len);
	h->mr = ibv_reg_mr(c->loop.pd, h->buf, len, access);
	if (h->mr)
		return 0;
	err = errno;
	fprintf(stderr, "ibv_reg_mr: %s\n", strerror(err));
	free(h->buf);
	return -err;
}

static int host_buf_new(struct ctx *c, size_t len, struct host_buf *h)
{
	return host_buf_reg(c, len, ACCESS_ALL, h);
}

static void host_buf_free(struct host_buf *h)
{
	ibv_dereg_mr(h->mr);
	free(h->buf);
}

static int reg_dmabuf(struct ctx *c, int fd, uint64_t offset, size_t len, uint64_t iova,
		      int access, struct p2pmr_mr **mrp)
{
	*mrp = p2pmr_reg_dmabuf_mr(c->loop.pd, offset, len, iova, fd, access);
	if (*mrp)
		return 0;
	fprintf(stderr, "p2pmr_reg_dmabuf_mr: %s\n", p2pmr_last_error());
	return -errno;
}

static int bar_buf_reg(struct ctx *c, uint64_t offset, size_t len, int access,
		       struct bar_buf *b)
{
	struct p2pmr_range r = { offset, len };
	int ret;

	b->offset = offset;
	b->len = len;
	ret = p2pmr_dmabuf_export(c->dev, c->bar, &r, 1, &b->fd);
	if (ret) {
		fprintf(stderr, "export: %s\n", p2pmr_last_error());
		return -ret;
	}
	ret = reg_dmabuf(c, b->fd, 0, len, IOVA_BASE + offset, access, &b->mr);
	if (ret)
		close(b->fd);
	else
		printf("BAR%u+0x%" PRIx64 " (%zu KiB) registered through %s: lkey 0x%x rkey 0x%x\n",
		       c->bar, offset, len / KIB,
		       p2pmr_mr_is_fallback(b->mr) ? "UVERBS_METHOD_REG_DMABUF_MR" :
		       "ibv_reg_dmabuf_mr", b->mr->lkey, b->mr->rkey);
	return ret;
}

static int bar_buf_new(struct ctx *c, uint64_t offset, size_t len, struct bar_buf *b)
{
	return bar_buf_reg(c, offset, len, ACCESS_ALL, b);
}

static void bar_buf_free(struct bar_buf *b)
{
	p2pmr_dereg_mr(b->mr);
	close(b->fd);
}

static uint64_t bar_iova(const struct bar_buf *b, uint64_t off)
{
	return IOVA_BASE + b->offset + off;
}

/* The BAR's bytes as the host sees them (file), else through the mmap. */
static int bar_read(struct ctx *c, uint64_t off, void *buf, size_t len)
{
	size_t i;

	if (c->file)
		return host_file_read(c->file, off, buf, len);
	for (i = 0; i < len; i++)
		((uint8_t *)buf)[i] = c->bar_map[off + i];
	return 0;
}

static void bar_write(struct ctx *c, uint64_t off, const void *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		((volatile uint64_t *)(c->bar_map + off))[i] = ((const uint64_t *)buf)[i];
}

static int expect_bar(struct ctx *c, uint64_t off, const void *want, size_t len,
		      const char *what)
{
	uint8_t *got = malloc(len);
	size_t i;
	int ret;

	if (!got)
		return -ENOMEM;
	ret = bar_read(c, off, got, len);
	for (i = 0; !ret && i < len; i++)
		if (got[i] != ((const uint8_t *)want)[i]) {
			ret = fail("%s: BAR byte 0x%" PRIx64 " is 0x%02x, expected 0x%02x (%s)",
				   what, off + i, got[i], ((const uint8_t *)want)[i],
				   c->file ? "host file" : "VFIO mmap");
			break;
		}
	free(got);
	return ret;
}

#define CHECK_WC(expr, want)							\
	do {									\
		int __s = (expr);						\
		if (__s != (want))						\
			return fail("%s:%d: %s: expected %s, got %s", __FILE__,	\
				    __LINE__, #expr, ibv_wc_status_str(want),	\
				    __s < 0 ? strerror(-__s) :			\
				    ibv_wc_status_str(__s));			\
	} while (0)

static int case_write_into_bar(struct ctx *c)
{
	struct host_buf h;
	struct bar_buf b;
	size_t off, len = 256 * KIB, msg = 64 * KIB;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 5 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 0x17e);
	for (off = 0; off < len; off += msg)
		CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf + off, msg,
				  h.mr->lkey, bar_iova(&b, off), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "RDMA WRITE"));
	printf("%zu KiB written by RDMA WRITE are in the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

static int case_read_from_bar(struct ctx *c)
{
	size_t len = 128 * KIB;
	uint64_t *want = malloc(len);
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 6 * MIB, len, &b));
	pattern_fill(want, len, 0x2ead);
	bar_write(c, b.offset, want, len);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(h.buf, want, len))
		return fail("RDMA READ from the BAR MR returned other bytes than the BAR holds");
	printf("%zu KiB read by RDMA READ match the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

/* SEND [@src, +@len) of @src_lkey into a receive of [@dst, +@len) of @dst_lkey. */
static int send_recv(struct ctx *c, uint64_t src, uint32_t src_lkey, uint64_t dst,
		     uint32_t dst_lkey, size_t len, const char *what)
{
	struct ibv_wc wc[2];

	CHECK_OK(loop_post_recv(&c->loop, dst, len, dst_lkey));
	CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, src, len, src_lkey, 0, 0, 0, 0));
	CHECK_OK(loop_wait(&c->loop, &wc[0]));
	CHECK_OK(loop_wait(&c->loop, &wc[1]));
	if (wc[0].status || wc[1].status)
		return fail("SEND %s: completions %s, %s", what,
			    ibv_wc_status_str(wc[0].status), ibv_wc_status_str(wc[1].status));
	return 0;
}

static int case_send_into_bar(struct ctx *c)
{
	size_t len = 16 * KIB;
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 7 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 0x5e9d);
	CHECK_OK(send_recv(c, (uintptr_t)h.buf, h.mr->lkey, bar_iova(&b, 0), b.mr->lkey, len,
			   "into a BAR MR"));
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "SEND/RECV"));
	printf("a %zu KiB SEND received into the BAR MR is in the BAR\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

static int case_send_from_bar(struct ctx *c)
{
	size_t len = 16 * KIB;
	uint64_t *want = malloc(len);
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 7 * MIB + 64 * KIB, len, &b));
	pattern_fill(want, len, 0xf00d);
	bar_write(c, b.offset, want, len);
	CHECK_OK(send_recv(c, bar_iova(&b, 0), b.mr->lkey, (uintptr_t)h.buf, h.mr->lkey, len,
			   "from a BAR MR"));
	if (memcmp(h.buf, want, len))
		return fail("the receiver got other bytes than the BAR MR holds");
	printf("a %zu KiB SEND gathered from the BAR MR arrived intact\n", len / KIB);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

/*
 * A stream of SENDs received into BAR MR slots, the receive queue kept
 * full (what ib_send_bw does): every message must land, in order.
 */
static int case_send_stream(struct ctx *c)
{
	const unsigned int slots = 16, count = 96;
	size_t msg = 16 * KIB, len = slots * msg;
	unsigned int posted = 0, sent = 0, received = 0, sends_done = 0;
	struct host_buf h;
	struct bar_buf b;
	struct ibv_wc wc;
	uint64_t *want = malloc(msg);

	CHECK_OK(host_buf_new(c, msg, &h));
	CHECK_OK(bar_buf_new(c, 14 * MIB, len, &b));
	for (; posted < slots; posted++)
		CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, (posted % slots) * msg), msg,
					b.mr->lkey));
	while (received < count) {
		/* One SEND in flight: its host buffer is refilled for the next. */
		if (sent < count && sent == sends_done) {
			pattern_fill((uint64_t *)h.buf, msg, 0x5000 + sent);
			CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, (uintptr_t)h.buf, msg,
					   h.mr->lkey, 0, 0, 0, 0));
			sent++;
		}
		CHECK_OK(loop_wait(&c->loop, &wc));
		if (wc.status)
			return fail("message %u of %u: %s completion %s (%u received)",
				    sent, count, wc.opcode & IBV_WC_RECV ? "receive" : "send",
				    ibv_wc_status_str(wc.status), received);
		if (!(wc.opcode & IBV_WC_RECV)) {
			sends_done++;
			continue;
		}
		pattern_fill(want, msg, 0x5000 + received);
		CHECK_OK(expect_bar(c, b.offset + (received % slots) * msg, want, msg,
				    "SEND stream"));
		received++;
		if (posted < count) {
			CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, (posted % slots) * msg),
						msg, b.mr->lkey));
			posted++;
		}
	}
	printf("%u SENDs of %zu KiB received in turn into %u BAR MR slots, all intact\n",
	       count, msg / KIB, slots);
	bar_buf_free(&b);
	host_buf_free(&h);
	free(want);
	return 0;
}

static int atomic_op(struct ctx *c, struct host_buf *h, struct bar_buf *b, enum ibv_wr_opcode op,
		     uint64_t compare_add, uint64_t swap, uint64_t *orig)
{
	struct ibv_wc wc;

	CHECK_OK(loop_post(&c->loop, op, (uintptr_t)h->buf, 8, h->mr->lkey, bar_iova(b, 8),
			   b->mr->rkey, compare_add, swap));
	CHECK_OK(loop_wait(&c->loop, &wc));
	if (wc.status)
		return fail("atomic on a BAR MR: %s", ibv_wc_status_str(wc.status));
	memcpy(orig, h->buf, 8);
	return 0;
}

/* Atomics on I/O memory are serialised read-modify-writes (see the docs). */
static int case_atomics(struct ctx *c)
{
	uint64_t v = 0x1000, orig, final;
	struct host_buf h;
	struct bar_buf b;
	int i;

	CHECK_OK(host_buf_new(c, c->page, &h));
	CHECK_OK(bar_buf_new(c, 8 * MIB, c->page, &b));
	bar_write(c, b.offset + 8, &v, 8);
	for (i = 0; i < 100; i++) {
		CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_FETCH_AND_ADD, 3, 0, &orig));
		if (orig != v + 3 * i)
			return fail("fetch-and-add %d returned 0x%" PRIx64 ", expected 0x%" PRIx64,
				    i, orig, v + 3 * i);
	}
	v += 300;
	CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_CMP_AND_SWP, v + 1, 0xabc, &orig));
	if (orig != v)
		return fail("failing compare-and-swap returned 0x%" PRIx64, orig);
	CHECK_OK(atomic_op(c, &h, &b, IBV_WR_ATOMIC_CMP_AND_SWP, v, 0xabc, &orig));
	CHECK_OK(bar_read(c, b.offset + 8, &final, 8));
	if (orig != v || final != 0xabc)
		return fail("compare-and-swap: returned 0x%" PRIx64 ", BAR holds 0x%" PRIx64,
			    orig, final);
	printf("100 fetch-and-adds and 2 compare-and-swaps on the BAR MR are exact\n");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/* A dma-buf with struct pages: udmabuf over a memfd. */
static int case_udmabuf(struct ctx *c)
{
	size_t len = MIB, xfer = 64 * KIB;
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = len };
	struct host_buf h;
	struct p2pmr_mr *mr;
	uint8_t *mem;
	int memfd, dev, fd;

	memfd = memfd_create("p2pmr-udmabuf", MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, len) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return fail("memfd: %s", strerror(errno));
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail("/dev/udmabuf: %s (kernel without CONFIG_UDMABUF?)", strerror(errno));
	create.memfd = memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	if (fd < 0)
		return fail("UDMABUF_CREATE: %s", strerror(errno));
	close(dev);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return fail("mmap memfd: %s", strerror(errno));

	CHECK_OK(host_buf_new(c, xfer, &h));
	CHECK_OK(reg_dmabuf(c, fd, 256 * KIB, xfer, IOVA_BASE, ACCESS_ALL, &mr));
	pattern_fill((uint64_t *)h.buf, xfer, 0xdb);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, xfer, h.mr->lkey,
			  IOVA_BASE, mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(mem + 256 * KIB, h.buf, xfer))
		return fail("RDMA WRITE into the udmabuf MR did not land in the memfd");
	pattern_fill((uint64_t *)(mem + 256 * KIB), xfer, 0xdc);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h.buf, xfer, h.mr->lkey,
			  IOVA_BASE, mr->rkey), IBV_WC_SUCCESS);
	if (memcmp(mem + 256 * KIB, h.buf, xfer))
		return fail("RDMA READ from the udmabuf MR returned other bytes");
	printf("RDMA WRITE and READ on a udmabuf MR (%s)\n",
	       p2pmr_mr_is_fallback(mr) ? "UVERBS_METHOD_REG_DMABUF_MR" : "ibv_reg_dmabuf_mr");
	CHECK_LIB(p2pmr_dereg_mr(mr));
	host_buf_free(&h);
	munmap(mem, len);
	close(fd);
	close(memfd);
	return 0;
}

/*
 * Registration must fail with @want, through the library and through the
 * kernel's own method (the library checks some arguments itself).
 */
static int expect_reg_error(struct ctx *c, const char *what, int fd, uint64_t offset,
			    size_t len, uint64_t iova, int access, int want)
{
	struct p2pmr_mr *mr = p2pmr_reg_dmabuf_mr(c->loop.pd, offset, len, iova, fd, access);
	struct p2pmr_mr_keys keys;
	int ret;

	if (mr) {
		p2pmr_dereg_mr(mr);
		return fail("%s: registered, expected %s", what, strerror(want));
	}
	if (errno != want)
		return fail("%s: expected %s, got %s (%s)", what, strerror(want), strerror(errno),
			    p2pmr_last_error());
	printf("%s: %s (\"%s\")\n", what, strerror(want), p2pmr_last_error());
	ret = p2pmr_uverbs_reg_dmabuf_mr(c->loop.ctx->cmd_fd, c->loop.pd->handle, offset, len,
					 iova, fd, access, &keys);
	if (!ret)
		p2pmr_uverbs_dereg_mr(c->loop.ctx->cmd_fd, keys.handle);
	if (ret != want)
		return fail("%s: the kernel said %s, expected %s", what,
			    ret ? strerror(ret) : "success", strerror(want));
	return 0;
}

static int case_bad_input(struct ctx *c)
{
	size_t len = 64 * KIB;
	struct bar_buf b;
	int fd, memfd;

	CHECK_LIB(p2pmr_dmabuf_export(c->dev, c->bar, &(struct p2pmr_range){ 9 * MIB, len }, 1, &fd));
	memfd = memfd_create("p2pmr-not-a-dmabuf", 0);
	if (memfd < 0 || ftruncate(memfd, len))
		return fail("memfd: %s", strerror(errno));

	if (expect_reg_error(c, "range past the end of the dma-buf", fd, c->page, len,
			     IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "offset past the end of the dma-buf", fd, len, c->page,
			     IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "zero length", fd, 0, 0, IOVA_BASE, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "iova at another offset in a page than offset", fd, 0, len,
			     IOVA_BASE + 8, ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "memory window access", fd, 0, len, IOVA_BASE,
			     ACCESS_ALL | IBV_ACCESS_MW_BIND, EINVAL) ||
	    expect_reg_error(c, "remote write without local write", fd, 0, len, IOVA_BASE,
			     IBV_ACCESS_REMOTE_WRITE, EINVAL) ||
	    expect_reg_error(c, "a memfd is not a dma-buf", memfd, 0, len, IOVA_BASE,
			     ACCESS_ALL, EINVAL) ||
	    expect_reg_error(c, "a closed fd", 1000, 0, len, IOVA_BASE, ACCESS_ALL, EBADF))
		return 1;
	close(memfd);
	close(fd);
	/* Nothing was left half done: a good registration still works. */
	CHECK_OK(bar_buf_new(c, 9 * MIB, len, &b));
	bar_buf_free(&b);
	return 0;
}

/*
 * An MR over a dma-buf of @n one-page ranges: RDMA WRITE of the whole MR, in
 * order, leaves in each BAR page what was written to its last appearance in
 * the dma-buf (host file); RDMA READ of the whole MR returns the BAR's pages
 * in dma-buf order.
 */
static int scattered_mr_check(struct ctx *c, const struct p2pmr_range *r, unsigned int n)
{
	size_t len = n * c->page, msg = 64 * KIB, off, chunk;
	uint64_t lo, hi;
	struct host_buf h, back;
	struct p2pmr_mr *mr;
	uint8_t *want = malloc(len), *bar;
	unsigned int i, j;
	int fd;

	CHECK_LIB(p2pmr_dmabuf_export(c->dev, c->bar, r, n, &fd));
	CHECK_OK(reg_dmabuf(c, fd, 0, len, IOVA_BASE, ACCESS_ALL, &mr));
	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(host_buf_new(c, len, &back));
	pattern_fill((uint64_t *)h.buf, len, 0x5ca7 + n);
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < msg ? len - off : msg;
		CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf + off, chunk,
				  h.mr->lkey, IOVA_BASE + off, mr->rkey), IBV_WC_SUCCESS);
	}
	/* The BAR window the ranges lie in, read once. */
	ranges_window(r, n, &lo, &hi);
	bar = malloc(hi - lo);
	CHECK_OK(bar_read(c, lo, bar, hi - lo));
	for (i = 0; i < n; i++) {
		j = ranges_last_alias(r, n, i);
		if (memcmp(bar + (r[i].offset - lo), h.buf + j * c->page, c->page))
			return fail("BAR page 0x%" PRIx64 " does not hold what RDMA WRITE put in dma-buf page %u",
				    r[i].offset, j);
		memcpy(want + i * c->page, h.buf + j * c->page, c->page);
	}
	free(bar);
	for (off = 0; off < len; off += chunk) {
		chunk = len - off < msg ? len - off : msg;
		CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)back.buf + off, chunk,
				  back.mr->lkey, IOVA_BASE + off, mr->rkey), IBV_WC_SUCCESS);
	}
	if (memcmp(back.buf, want, len))
		return fail("RDMA READ of the MR returned other bytes than the BAR pages hold");
	printf("%u ranges, one %zu KiB MR: RDMA WRITE put each page in its BAR page, RDMA READ returned them in order\n",
	       n, len / KIB);
	p2pmr_dereg_mr(mr);
	close(fd);
	host_buf_free(&h);
	host_buf_free(&back);
	free(want);
	return 0;
}

/* Pages scattered, overlapping and repeated in one MR. */
static int case_mr_scattered(struct ctx *c)
{
	struct p2pmr_range r[RANGES_MIXED];

	ranges_mixed(r, 11 * MIB, c->page);
	return scattered_mr_check(c, r, RANGES_MIXED);
}

/* 4096 one-page ranges over 64 pages of the BAR, as one MR. */
static int case_mr_4096_ranges(struct ctx *c)
{
	struct p2pmr_range *r = calloc(4096, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	ranges_scattered_pages(r, 4096, 12 * MIB, c->page);
	ret = scattered_mr_check(c, r, 4096);
	free(r);
	return ret;
}

/*
 * Clearing memory decode revokes the dma-buf: RDMA into or out of the MR
 * fails with the IB errors (remote access error for the target, local
 * protection error for a local SGE) and not a byte reaches the BAR; with
 * decode back, the same MR works again on new QPs.
 */
static int case_revoke_memory_disable(struct ctx *c)
{
	size_t len = 64 * KIB;
	struct host_buf h, h2;
	struct bar_buf b;
	struct ibv_wc wc;
	uint8_t *before = malloc(len);

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(host_buf_new(c, len, &h2));
	CHECK_OK(bar_buf_new(c, 10 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 1);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(bar_read(c, b.offset, before, len));

	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	pattern_fill((uint64_t *)h.buf, len, 2);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_REM_ACCESS_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h2.buf, len, h2.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_REM_ACCESS_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, bar_iova(&b, 0), len, b.mr->lkey,
			  (uintptr_t)h2.buf, h2.mr->rkey), IBV_WC_LOC_PROT_ERR);
	CHECK_OK(loop_connect(&c->loop));
	CHECK_OK(loop_post_recv(&c->loop, bar_iova(&b, 0), len, b.mr->lkey));
	CHECK_OK(loop_post(&c->loop, IBV_WR_SEND, (uintptr_t)h.buf, len, h.mr->lkey, 0, 0, 0, 0));
	CHECK_OK(loop_wait(&c->loop, &wc));
	if (wc.status == IBV_WC_SUCCESS)
		return fail("SEND into a revoked BAR MR succeeded");
	printf("while revoked: WRITE and READ to the MR give %s, a local SGE %s, a receive %s\n",
	       ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR), ibv_wc_status_str(IBV_WC_LOC_PROT_ERR),
	       ibv_wc_status_str(wc.status));
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(expect_bar(c, b.offset, before, len, "after the revoke"));

	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "after restore"));
	printf("no byte reached the BAR while revoked; the same MR works after restore\n");
	bar_buf_free(&b);
	host_buf_free(&h2);
	host_buf_free(&h);
	free(before);
	return 0;
}

/* A reset revokes and restores within the ioctl: the MR keeps working. */
static int case_revoke_reset(struct ctx *c)
{
	size_t len = 64 * KIB;
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 11 * MIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 3);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(vfio_reset(c->dev));
	pattern_fill((uint64_t *)h.buf, len, 4);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "after a reset"));
	printf("the MR maps the BAR again after VFIO_DEVICE_RESET\n");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/*
 * The way back from an error that keeps the QPs: a WRITE into a revoked BAR
 * MR completes with a remote access error, the consumer moves both QPs to
 * RESET at once and connects them again. rxe's tasks finish failing that
 * work request (and its NAK) after the error completion is visible, so the
 * reset must win over their move to the error state: otherwise the next
 * step, RESET to INIT, is refused with EINVAL. For --seconds, as fast as
 * the QPs go; then, with decode back, the same MR takes a WRITE.
 */
static int case_reset_after_error(struct ctx *c)
{
	size_t len = 4 * KIB;
	long long end = verbs_now_ms() + c->seconds * 1000LL;
	unsigned int rounds = 0;
	struct host_buf h;
	struct bar_buf b;

	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, 12 * MIB, len, &b));
	CHECK_OK(vfio_set_memory_decode(c->dev, false));
	do {
		CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
				  bar_iova(&b, 0), b.mr->rkey), IBV_WC_REM_ACCESS_ERR);
		if (loop_reset(&c->loop))
			return fail("round %u: the QPs did not come back from RESET after %s",
				    rounds + 1, ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
		rounds++;
	} while (verbs_now_ms() < end);
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	pattern_fill((uint64_t *)h.buf, len, 0x7e5e7);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "after the resets"));
	printf("%u rounds of %s, RESET and back to RTS in %d s; the same QPs and MR work after\n",
	       rounds, ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR), c->seconds);
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

/*
 * Register again while a toggler revokes the BAR now and then: a revoked
 * dma-buf cannot be registered (ENODEV), so retry, counting refusals.
 */
static int bar_buf_renew(struct ctx *c, uint64_t offset, size_t len, struct bar_buf *b,
			 unsigned int *refused)
{
	int tries, ret = -ENODEV;

	for (tries = 0; tries < 100 && ret == -ENODEV; tries++) {
		ret = bar_buf_new(c, offset, len, b);
		if (ret == -ENODEV) {
			++*refused;
			usleep(10 * 1000);
		}
	}
	return ret;
}

struct toggler {
	struct ctx *c;
	volatile bool stop;
	unsigned int revokes;
	int err;
};

static void *toggle_decode(void *arg)
{
	struct toggler *t = arg;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	while (!t->stop && !t->err) {
		t->err = vfio_set_memory_decode(t->c->dev, false);
		nanosleep(&pause, NULL);
		if (!t->err)
			t->err = vfio_set_memory_decode(t->c->dev, true);
		if (!(t->revokes++ % 4) && !t->err)
			t->err = vfio_reset(t->c->dev);
		nanosleep(&pause, NULL);
	}
	return NULL;
}

struct traffic {
	unsigned int ok, revoked, refused;
};

static int traffic_run(struct ctx *c, struct host_buf *h, struct bar_buf *b, struct traffic *tr)
{
	time_t end = time(NULL) + c->seconds;
	unsigned int cycles = 0;
	int s;

	while (time(NULL) < end) {
		s = loop_run(&c->loop, cycles & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			     (uintptr_t)h->buf, h->len, h->mr->lkey, bar_iova(b, 0), b->mr->rkey);
		if (s == IBV_WC_SUCCESS) {
			tr->ok++;
		} else if (s == IBV_WC_REM_ACCESS_ERR) {
			tr->revoked++;
			CHECK_OK(loop_connect(&c->loop));
		} else {
			return fail("work request %u ended in %s", tr->ok + tr->revoked,
				    s < 0 ? strerror(-s) : ibv_wc_status_str(s));
		}
		if (!(++cycles % 16)) {
			/* dereg and QP destroy while revocations come */
			bar_buf_free(b);
			CHECK_OK(bar_buf_renew(c, b->offset, b->len, b, &tr->refused));
			CHECK_OK(loop_connect(&c->loop));
		}
	}
	return 0;
}

/*
 * Traffic while decode toggles and resets run: every work request ends in
 * success or in a remote access error, nothing hangs; QPs are destroyed and
 * MRs deregistered and registered while revocations come.
 */
static int case_revoke_mid_traffic(struct ctx *c)
{
	struct toggler t = { .c = c };
	struct traffic tr = { 0 };
	struct host_buf h;
	struct bar_buf b;
	pthread_t thread;
	int ret;

	CHECK_OK(host_buf_new(c, 16 * KIB, &h));
	CHECK_OK(bar_buf_new(c, 12 * MIB, 16 * KIB, &b));
	if (pthread_create(&thread, NULL, toggle_decode, &t))
		return fail("pthread_create failed");
	ret = traffic_run(c, &h, &b, &tr);
	t.stop = true;
	pthread_join(thread, NULL);
	if (ret)
		return ret;
	if (t.err)
		return fail("toggling decode: %s", strerror(-t.err));
	CHECK_OK(vfio_set_memory_decode(c->dev, true));
	CHECK_OK(loop_connect(&c->loop));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, h.len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	printf("%d s: %u work requests succeeded, %u met a revoked MR, %u revocations, %u registrations refused (ENODEV)\n",
	       c->seconds, tr.ok, tr.revoked, t.revokes, tr.refused);
	if (!tr.ok)
		return fail("no work request succeeded");
	bar_buf_free(&b);
	host_buf_free(&h);
	return 0;
}

static int count_baseline(struct ctx *c, int *bufs, int *mrs)
{
	*bufs = count_dmabufs();
	*mrs = count_mrs(c->rdma.ib_dev);
	if (*bufs < 0 || *mrs < 0)
		return fail("cannot count dma-bufs (debugfs) or MRs (rdma resource show)");
	return 0;
}

/* The last references go in deferred work (fput, rxe pool cleanup): wait. */
static int expect_counts(struct ctx *c, int bufs, int mrs, const char *when)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		if (count_dmabufs() == bufs && count_mrs(c->rdma.ib_dev) == mrs)
			return 0;
		usleep(100 * 1000);
	}
	return fail("%s: %d dma-bufs (%d before), %d MRs (%d before)", when, count_dmabufs(),
		    bufs, count_mrs(c->rdma.ib_dev), mrs);
}

/*
 * A process killed while its MR takes traffic leaves nothing behind. The
 * child opens its own verbs context: objects made through an inherited one
 * would belong to the parent's file and outlive the child.
 */
static int case_killed_process(struct ctx *c)
{
	int bufs, mrs, status;
	int pipefd[2];
	char ready;
	pid_t pid;

	if (count_baseline(c, &bufs, &mrs))
		return 1;
	if (pipe(pipefd))
		return fail("pipe: %s", strerror(errno));
	pid = fork();
	if (!pid) {
		struct host_buf h;
		struct bar_buf b;

		if (loop_open(&c->loop, c->rdma.ib_dev, c->rdma.gid_index) || host_buf_new(c, 64 * KIB, &h) || bar_buf_new(c, 13 * MIB, 64 * KIB, &b))
			_exit(1);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, 64 * KIB,
				 h.mr->lkey, bar_iova(&b, 0), b.mr->rkey);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &ready, 1) != 1)
		return fail("the child did not get its MR");
	usleep(300 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (expect_counts(c, bufs, mrs, "after the kill"))
		return 1;
	printf("killed with a live MR under traffic: dma-bufs %d, MRs %d, as before\n",
	       bufs, mrs);
	return 0;
}

/* --- Registration racing revocation and close (issue 16) --- */

/*
 * Where the race cases work in the BAR: two threads share a 4 KiB dma-buf
 * (the registration pair that crashed the kernel), a third registers a
 * 64 KiB one; the close race gives each thread a dma-buf of its own.
 */
#define RACE_OFFSET	(1 * MIB)
#define RACE_THREADS	3
#define COUNT(x)	__atomic_add_fetch(&(x), 1, __ATOMIC_RELAXED)

struct reg_counts {
	unsigned long ok, revoked, badf, other_file;
};

/*
 * Register [0, @len) of the dma-buf @fd and deregister it, through libp2pmr
 * (@lib) or the kernel method: 0 or the registration's -errno. A failed
 * deregistration is never expected: its -errno goes to *@dereg.
 */
static int reg_dereg(struct verbs_loop *l, int fd, size_t len, bool lib, int *dereg)
{
	struct p2pmr_mr_keys keys;
	struct p2pmr_mr *mr;
	int ret;

	if (lib) {
		mr = p2pmr_reg_dmabuf_mr(l->pd, 0, len, IOVA_BASE, fd, ACCESS_ALL);
		if (!mr)
			return -errno;
		*dereg = -p2pmr_dereg_mr(mr);
		return 0;
	}
	ret = p2pmr_uverbs_reg_dmabuf_mr(l->ctx->cmd_fd, l->pd->handle, 0, len, IOVA_BASE, fd,
					 ACCESS_ALL, &keys);
	if (!ret)
		*dereg = -p2pmr_uverbs_dereg_mr(l->ctx->cmd_fd, keys.handle);
	return -ret;
}

/*
 * Count a registration's result: a revoked dma-buf refuses (ENODEV); with
 * @fds_close, the fd may be closed under the call (EBADF) or be some other
 * file by then (EINVAL). False for anything else.
 */
static bool reg_count(struct reg_counts *n, int ret, bool fds_close)
{
	switch (ret) {
	case 0:
		COUNT(n->ok);
		return true;
	case -ENODEV:
		COUNT(n->revoked);
		return true;
	case -EBADF:
		COUNT(n->badf);
		return fds_close;
	case -EINVAL:
		COUNT(n->other_file);
		return fds_close;
	default:
		return false;
	}
}

struct race;

struct race_slot {
	struct race *r;
	int fd;		/* what the thread registers; the close race replaces it */
	size_t len;
};

struct race {
	struct ctx *c;
	struct race_slot slot[RACE_THREADS];
	int own[RACE_THREADS];	/* the exported dma-bufs, or -1 */
	/* One step of the disturbing thread: 0 or -errno. */
	int (*disturb)(struct race *r, unsigned long step);
	const char *what;	/* what a step does, for the report */
	bool fds_close;
	volatile bool stop;
	int err;		/* the first unexpected errno */
	struct reg_counts n;
	unsigned long steps, power_cycles;
	unsigned int seed;
	unsigned int pm;	/* power management capability, or 0 */
};

static void race_fail(struct race *r, const char *what, int err)
{
	int none = 0;

	if (__atomic_compare_exchange_n(&r->err, &none, err, false, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		fprintf(stderr, "%s: unexpected %s (%s)\n", what, strerror(err),
			p2pmr_last_error());
	r->stop = true;
}

/* Register and deregister as fast as it goes, libp2pmr and the kernel method in turn. */
static void *race_register(void *arg)
{
	struct race_slot *s = arg;
	struct race *r = s->r;
	unsigned long i;
	int ret, dereg;

	for (i = 0; !r->stop; i++) {
		dereg = 0;
		ret = reg_dereg(&r->c->loop, __atomic_load_n(&s->fd, __ATOMIC_RELAXED), s->len,
				i & 1, &dereg);
		if (!reg_count(&r->n, ret, r->fds_close))
			race_fail(r, i & 1 ? "p2pmr_reg_dmabuf_mr" : "p2pmr_uverbs_reg_dmabuf_mr",
				  -ret);
		else if (dereg)
			race_fail(r, "deregistration", -dereg);
	}
	return NULL;
}

static void *race_disturber(void *arg)
{
	struct race *r = arg;
	int ret;

	while (!r->stop) {
		ret = r->disturb(r, r->steps);
		if (ret) {
			race_fail(r, r->what, -ret);
			break;
		}
		r->steps++;
	}
	return NULL;
}

/* Memory decode off and on again, no pause. */
static int disturb_decode(struct race *r, unsigned long step)
{
	int ret = vfio_set_memory_decode(r->c->dev, false);

	(void)step;
	return ret ? ret : vfio_set_memory_decode(r->c->dev, true);
}

/* VFIO_DEVICE_RESET, and every other step D3hot and back to D0 if the device can. */
static int disturb_reset(struct race *r, unsigned long step)
{
	int ret;

	if (!r->pm || !(step & 1))
		return vfio_reset(r->c->dev);
	ret = vfio_set_power_state(r->c->dev, PM_STATE_D3HOT);
	if (!ret)
		ret = vfio_set_power_state(r->c->dev, PM_STATE_D0);
	if (!ret)
		r->power_cycles++;
	return ret;
}

/*
 * Close a registering thread's fd under it, at a random moment: its
 * replacement is a dup of its dma-buf or a fresh export of the same range.
 */
static int disturb_close(struct race *r, unsigned long step)
{
	unsigned int i = rand_r(&r->seed) % RACE_THREADS;
	struct race_slot *s = &r->slot[i];
	struct p2pmr_range range = { RACE_OFFSET + i * 64 * KIB, s->len };
	int fd, ret;

	if (step & 1) {
		fd = dup(r->own[i]);
		if (fd < 0)
			return -errno;
	} else {
		ret = p2pmr_dmabuf_export(r->c->dev, r->c->bar, &range, 1, &fd);
		if (ret)
			return -ret;
	}
	close(__atomic_exchange_n(&s->fd, fd, __ATOMIC_RELAXED));
	usleep(rand_r(&r->seed) % 200);
	return 0;
}

/* The dma-bufs of the race (see RACE_OFFSET); -errno if one cannot be exported. */
static int race_export(struct race *r)
{
	unsigned int i;
	int ret;

	for (i = 0; i < RACE_THREADS; i++) {
		r->slot[i] = (struct race_slot){ .r = r, .fd = -1, .len = i < 2 ? 4 * KIB : 64 * KIB };
		r->own[i] = -1;
	}
	for (i = 0; i < RACE_THREADS; i++) {
		struct p2pmr_range range = { RACE_OFFSET + i * 64 * KIB, r->slot[i].len };

		if (i == 1 && !r->fds_close) {
			r->slot[1].fd = r->own[0];	/* the 4 KiB pair shares one */
			continue;
		}
		ret = p2pmr_dmabuf_export(r->c->dev, r->c->bar, &range, 1, &r->own[i]);
		if (ret) {
			fprintf(stderr, "export: %s\n", p2pmr_last_error());
			return -ret;
		}
		r->slot[i].fd = r->fds_close ? dup(r->own[i]) : r->own[i];
	}
	return 0;
}

static void race_close(struct race *r)
{
	unsigned int i;

	for (i = 0; i < RACE_THREADS; i++) {
		if (r->fds_close && r->slot[i].fd >= 0)
			close(r->slot[i].fd);
		if (r->own[i] >= 0)
			close(r->own[i]);
	}
}

/*
 * After a race: the dma-bufs and MRs are as many as before it, and a new
 * registration of the BAR takes an RDMA WRITE whose bytes land.
 */
static int race_aftermath(struct ctx *c, int bufs, int mrs)
{
	size_t len = 16 * KIB;
	struct host_buf h;
	struct bar_buf b;

	if (expect_counts(c, bufs, mrs, "after the race"))
		return 1;
	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_OK(bar_buf_new(c, RACE_OFFSET + 256 * KIB, len, &b));
	pattern_fill((uint64_t *)h.buf, len, 0x1605);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset, h.buf, len, "RDMA WRITE after the race"));
	bar_buf_free(&b);
	host_buf_free(&h);
	printf("after the race: dma-bufs %d and MRs %d as before; a new MR takes an RDMA WRITE that lands\n",
	       bufs, mrs);
	return 0;
}

static int race_run(struct ctx *c, struct race *r)
{
	pthread_t threads[RACE_THREADS + 1];
	int bufs, mrs, ret;
	unsigned int i;

	if (count_baseline(c, &bufs, &mrs))
		return 1;
	r->c = c;
	r->seed = 0x16;
	ret = race_export(r);
	/* RACE_THREADS registering threads and the disturber; i: how many run */
	for (i = 0; !ret && i <= RACE_THREADS; i++) {
		if (i < RACE_THREADS ?
		    pthread_create(&threads[i], NULL, race_register, &r->slot[i]) :
		    pthread_create(&threads[i], NULL, race_disturber, r)) {
			ret = fail("pthread_create failed");
			break;
		}
	}
	if (!ret)
		sleep(c->seconds);
	r->stop = true;
	while (i--)
		pthread_join(threads[i], NULL);
	race_close(r);
	/* Leave the device decoding and in D0 for whoever comes next. */
	if (r->pm)
		vfio_set_power_state(c->dev, PM_STATE_D0);
	vfio_set_memory_decode(c->dev, true);
	printf("%d s, %d threads: %lu registrations, %lu refused with ENODEV (revoked), %lu EBADF, %lu EINVAL (by then another file); %lu %s",
	       c->seconds, RACE_THREADS, r->n.ok, r->n.revoked, r->n.badf, r->n.other_file,
	       r->steps, r->what);
	if (r->pm)
		printf(", %lu of them D3hot/D0", r->power_cycles);
	printf("\n");
	if (ret || r->err)
		return 1;
	if (!r->n.ok || !r->steps)
		return fail("the race did no work");
	return race_aftermath(c, bufs, mrs);
}

static int case_reg_race_decode(struct ctx *c)
{
	struct race r = { .disturb = disturb_decode, .what = "memory decode toggles" };

	return race_run(c, &r);
}

static int case_reg_race_reset(struct ctx *c)
{
	struct race r = { .disturb = disturb_reset, .what = "resets or power cycles" };

	r.pm = vfio_find_pm_cap(c->dev);
	if (!r.pm)
		printf("%s has no power management capability: resets only\n", c->addr);
	return race_run(c, &r);
}

static int case_reg_race_close(struct ctx *c)
{
	struct race r = { .disturb = disturb_close, .what = "fds closed under a registration",
			  .fds_close = true };

	return race_run(c, &r);
}

/*
 * The registering side of reg-race-device-close, in a process that holds
 * no VFIO handle: registers the latest dma-buf it was sent until the owner
 * closes the socket, and tells the owner (one byte back) when a first
 * registration succeeded. Every registration succeeds or meets a revoked
 * dma-buf. Exit status 0 when it holds.
 */
static int device_close_registrar(struct ctx *c, int sock)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct reg_counts n = { 0 };
	unsigned long i, received = 0;
	int fd = -1, next, ret, dereg;

	/* Only the owner may hold the device: its close must be the last. */
	p2pmr_device_close(c->dev);
	if (loop_open(&c->loop, c->rdma.ib_dev, c->rdma.gid_index))
		return 1;
	for (i = 0;; i++) {
		if (fd < 0 || poll(&pfd, 1, 0) > 0) {
			ret = fds_recv(sock, &next, 1);
			if (ret == -EPIPE)
				break;
			if (ret)
				return 1;
			if (fd >= 0)
				close(fd);
			fd = next;
			received++;
		}
		dereg = 0;
		ret = reg_dereg(&c->loop, fd, 4 * KIB, i & 1, &dereg);
		if (!reg_count(&n, ret, false))
			return fail("registration %lu: unexpected %s (%s)", i, strerror(-ret),
				    p2pmr_last_error());
		if (dereg)
			return fail("deregistration: %s", strerror(-dereg));
		if (!ret && n.ok == 1 && send(sock, "r", 1, MSG_NOSIGNAL) != 1)
			return fail("telling the owner: %s", strerror(errno));
	}
	close(fd);
	loop_close(&c->loop);
	printf("the registering process: %lu dma-bufs received, %lu registrations, %lu refused with ENODEV (revoked)\n",
	       received, n.ok, n.revoked);
	return n.ok ? 0 : fail("no registration succeeded");
}

/*
 * The owner of the VFIO device closes and opens it again and again while
 * another process, which holds only dma-bufs of it, registers them: each
 * close revokes them for good, and the owner sends a fresh one. A loaded
 * machine may leave the registering process no chance in the time asked
 * for: the race goes on, with longer windows, until one registration has
 * succeeded (at most half a minute more).
 */
static int case_reg_race_device_close(struct ctx *c)
{
	struct p2pmr_range range = { RACE_OFFSET, 4 * KIB };
	unsigned int seed = 0x16;
	unsigned long cycles = 0;
	int bufs, mrs, sv[2], fd, ret = 0, status;
	struct pollfd pfd;
	bool registered = false;
	time_t end, now;
	char byte;
	void *map;
	pid_t pid;

	if (count_baseline(c, &bufs, &mrs))
		return 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return fail("socketpair: %s", strerror(errno));
	/* A mapping of the BAR holds the device open as well. */
	p2pmr_bar_munmap((void *)c->bar_map, c->bar_len);
	c->bar_map = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		close(sv[0]);
		ret = device_close_registrar(c, sv[1]);
		fflush(stdout);
		_exit(ret);
	}
	close(sv[1]);
	pfd = (struct pollfd){ .fd = sv[0], .events = POLLIN };
	end = time(NULL) + c->seconds;
	for (; !ret; cycles++) {
		if (!registered && poll(&pfd, 1, 0) > 0 && recv(sv[0], &byte, 1, 0) == 1)
			registered = true;
		now = time(NULL);
		if (now >= end + (registered ? 0 : 30))
			break;
		ret = p2pmr_dmabuf_export(c->dev, c->bar, &range, 1, &fd);
		if (ret) {
			fail("export: %s", p2pmr_last_error());
			break;
		}
		ret = fds_send(sv[0], &fd, 1);
		close(fd);
		/* Past the time asked for without a registration: wider windows. */
		usleep(rand_r(&seed) % 20000 + (now >= end ? 200000 : 0));
		p2pmr_device_close(c->dev);
		c->dev = NULL;
		if (!ret && p2pmr_device_open(c->addr, P2PMR_VFIO_API_AUTO, &c->dev))
			ret = fail("reopening %s: %s", c->addr, p2pmr_last_error());
	}
	close(sv[0]);	/* end of the race for the registering process */
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		ret = fail("the registering process failed");
	if (!c->dev)
		return 1;
	CHECK_LIB(p2pmr_bar_mmap(c->dev, c->bar, &map, &c->bar_len));
	c->bar_map = map;
	printf("%d s: the device was closed and opened again %lu times under the registrations\n",
	       c->seconds, cycles);
	return ret ? 1 : race_aftermath(c, bufs, mrs);
}

/* --- Access modes of the dma-buf file --- */

#define RO_OFFSET	(2 * MIB)	/* read-only export, 64 KiB */
#define RW_OFFSET	(2 * MIB + 64 * KIB)	/* its read-write control */
#define RO_SEED		0x4ead
#define RW_SEED		0x3417e

/*
 * A dma-buf of one range of the BAR whose file has @open_flags, by the
 * raw ioctl (p2pmr_dmabuf_export() always asks for O_RDWR).
 */
static int export_mode(struct ctx *c, uint64_t offset, size_t len, uint32_t open_flags,
		       int *fdp)
{
	*fdp = vfio_export_mode(c->dev, c->bar, offset, len, open_flags);
	if (*fdp >= 0)
		return 0;
	return fail("VFIO_DEVICE_FEATURE_DMA_BUF with open_flags 0x%x: %s", open_flags,
		    strerror(-*fdp));
}

/* /dev/infiniband/uverbsN of @ibdev, which ibv_open_device() opens. */
static int uverbs_path(const char *ibdev, char *path, size_t len)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	int i, ret = -ENODEV;

	for (i = 0; list && list[i]; i++) {
		if (!strcmp(ibv_get_device_name(list[i]), ibdev)) {
			snprintf(path, len, "/dev/infiniband/%s", list[i]->dev_name);
			ret = 0;
			break;
		}
	}
	if (list)
		ibv_free_device_list(list);
	return ret;
}

/*
 * Nobody, without capabilities, with a read-only and a read-write dma-buf
 * it was sent: write access to the read-only one is refused (EACCES),
 * remote read works; the read-write one takes an RDMA WRITE.
 */
static int readonly_child(struct ctx *c, int sock)
{
	static const struct {
		const char *what;
		int access;
	} writers[] = {
		{ "local write", IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ },
		{ "remote write", IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE },
		{ "remote atomic", IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_ATOMIC },
	};
	size_t len = 64 * KIB;
	uint64_t *want = malloc(len);
	struct p2pmr_mr_keys keys;
	struct p2pmr_mr *ro_mr, *rw_mr;
	struct host_buf h;
	char what[64];
	unsigned int i;
	int fds[2];

	CHECK_OK(unpriv_drop());
	CHECK_OK(fds_recv(sock, fds, 2));
	printf("child: uid %d, no capabilities, got a read-only and a read-write dma-buf\n",
	       getuid());
	CHECK_OK(loop_open(&c->loop, c->rdma.ib_dev, c->rdma.gid_index));
	for (i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
		snprintf(what, sizeof(what), "%s on a read-only dma-buf", writers[i].what);
		if (expect_reg_error(c, what, fds[0], 0, len, IOVA_BASE, writers[i].access,
				     EACCES))
			return 1;
	}
	CHECK_OK(reg_dmabuf(c, fds[0], 0, len, IOVA_BASE, IBV_ACCESS_REMOTE_READ, &ro_mr));
	CHECK_LIB(p2pmr_uverbs_reg_dmabuf_mr(c->loop.ctx->cmd_fd, c->loop.pd->handle, 0, len,
					    IOVA_BASE, fds[0], IBV_ACCESS_REMOTE_READ, &keys));
	CHECK_LIB(p2pmr_uverbs_dereg_mr(c->loop.ctx->cmd_fd, keys.handle));
	CHECK_OK(host_buf_new(c, len, &h));
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_READ, (uintptr_t)h.buf, len, h.mr->lkey,
			  IOVA_BASE, ro_mr->rkey), IBV_WC_SUCCESS);
	pattern_fill(want, len, RO_SEED);
	if (memcmp(h.buf, want, len))
		return fail("RDMA READ from the read-only dma-buf MR returned other bytes than the BAR holds");
	printf("remote read only: registered (libp2pmr and the kernel method), RDMA READ returns the BAR's bytes\n");

	CHECK_OK(reg_dmabuf(c, fds[1], 0, len, IOVA_BASE, ACCESS_ALL, &rw_mr));
	pattern_fill((uint64_t *)h.buf, len, RW_SEED);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  IOVA_BASE, rw_mr->rkey), IBV_WC_SUCCESS);
	CHECK_LIB(p2pmr_dereg_mr(rw_mr));
	CHECK_LIB(p2pmr_dereg_mr(ro_mr));
	host_buf_free(&h);
	loop_close(&c->loop);
	free(want);
	return 0;
}

static int case_readonly_export(struct ctx *c)
{
	size_t len = 64 * KIB;
	uint64_t *want = malloc(len);
	int fds[2], sv[2], status, ret;
	char uverbs[sizeof("/dev/infiniband/") + IBV_SYSFS_NAME_MAX];
	struct stat st;
	pid_t pid;

	pattern_fill(want, len, RO_SEED);
	bar_write(c, RO_OFFSET, want, len);
	CHECK_OK(export_mode(c, RO_OFFSET, len, O_RDONLY | O_CLOEXEC, &fds[0]));
	CHECK_OK(export_mode(c, RW_OFFSET, len, O_RDWR | O_CLOEXEC, &fds[1]));
	if (uverbs_path(c->rdma.ib_dev, uverbs, sizeof(uverbs)))
		return fail("no uverbs device for %s", c->rdma.ib_dev);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return fail("socketpair: %s", strerror(errno));
	/* Nobody needs the verbs device: opened up for the child only. */
	if (stat(uverbs, &st) || chmod(uverbs, 0666))
		return fail("%s: %s", uverbs, strerror(errno));
	fflush(stdout);
	pid = fork();
	if (!pid) {
		close(sv[0]);
		ret = readonly_child(c, sv[1]);
		fflush(stdout);
		_exit(ret);
	}
	close(sv[1]);
	ret = pid < 0 ? -errno : fds_send(sv[0], fds, 2);
	close(sv[0]);
	close(fds[0]);
	close(fds[1]);
	if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
			WEXITSTATUS(status)))
		ret = -ECHILD;
	if (chmod(uverbs, st.st_mode & 07777))
		ret = fail("restoring the mode of %s: %s", uverbs, strerror(errno));
	if (ret)
		return fail("the unprivileged process failed");
	pattern_fill(want, len, RW_SEED);
	CHECK_OK(expect_bar(c, RW_OFFSET, want, len, "RDMA WRITE into a read-write export"));
	printf("the RDMA WRITE of the unprivileged process through the read-write export is in the BAR\n");
	free(want);
	return 0;
}

/* --- FLUSH and ATOMIC WRITE (IBA 1.5), through the ibv_wr_*() API --- */

/* rdma-core 47 names them IBV_ACCESS_FLUSH_GLOBAL and _PERSISTENT. */
#define ACCESS_FLUSH_GLOBAL	(1 << 8)
#define ACCESS_FLUSH_PERSISTENT	(1 << 9)
#define FLUSH_OFFSET		(3 * MIB)

#ifdef HAVE_IBV_WR_FLUSH
#define LOOP_FLUSH_OPS		IBV_QP_EX_WITH_FLUSH
#define FLUSH_POSTED_BY		"ibv_wr_flush()"
#else
#define LOOP_FLUSH_OPS		0
#define FLUSH_POSTED_BY		"a WQE written into the rxe send queue (rdma-core 44 has no ibv_wr_flush())"
#endif

static struct ibv_qp_ex *wr_begin(struct ctx *c)
{
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(c->loop.qp[0]);

	ibv_wr_start(qpx);
	qpx->wr_id = 0xf1;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	return qpx;
}

/* Post the work request built since wr_begin() and wait: its status, or -errno. */
static int wr_end(struct ctx *c, struct ibv_qp_ex *qpx)
{
	struct ibv_wc wc;
	int ret = ibv_wr_complete(qpx);

	if (ret)
		return -ret;
	ret = loop_wait(&c->loop, &wc);
	return ret ? ret : (int)wc.status;
}

static int atomic_write(struct ctx *c, uint64_t raddr, uint32_t rkey, uint64_t value)
{
	struct ibv_qp_ex *qpx = wr_begin(c);

	ibv_wr_atomic_write(qpx, rkey, raddr, &value);
	return wr_end(c, qpx);
}

#ifdef HAVE_IBV_WR_FLUSH
static int flush_global(struct ctx *c, uint64_t raddr, uint32_t rkey, size_t len)
{
	struct ibv_qp_ex *qpx = wr_begin(c);

	ibv_wr_flush(qpx, rkey, raddr, len, IBV_FLUSH_GLOBAL, IBV_FLUSH_RANGE);
	return wr_end(c, qpx);
}
#else
/*
 * Right after an RDMA WRITE to @raddr of @rkey by loop_run(), whose WQE
 * marks the send queue (qp_post() makes the opcode its wr_id).
 */
static int flush_global(struct ctx *c, uint64_t raddr, uint32_t rkey, size_t len)
{
	struct rxe_marker marker = { .wr_id = IBV_WR_RDMA_WRITE, .raddr = raddr, .rkey = rkey };
	struct ibv_wc wc;
	int ret = rxe_post_flush(c->loop.qp[0], &marker, 0xf1, rkey, raddr, len, IB_FLUSH_GLOBAL,
				 IB_FLUSH_RANGE);

	if (!ret)
		ret = loop_wait(&c->loop, &wc);
	return ret ? ret : (int)wc.status;
}
#endif

/* QPs for the ibv_wr_*() API; the target takes FLUSH for global visibility. */
static int loop_connect_wr(struct ctx *c)
{
	struct ibv_qp_attr attr = { .qp_access_flags = ACCESS_ALL | ACCESS_FLUSH_GLOBAL };
	int ret;

	c->loop.send_ops = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_READ |
			   IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_ATOMIC_WRITE | LOOP_FLUSH_OPS;
	CHECK_OK(loop_connect(&c->loop));
	ret = ibv_modify_qp(c->loop.qp[1], &attr, IBV_QP_ACCESS_FLAGS);
	if (ret)
		return fail("ibv_modify_qp (flush access): %s", strerror(ret));
	return 0;
}

/*
 * ATOMIC WRITE lands in host memory and in the BAR. MRs of both take global
 * flush access, and a global FLUSH after an RDMA WRITE completes on both;
 * persistent flush access is refused, as neither is persistent memory.
 */
static int case_flush_atomic_write(struct ctx *c)
{
	const int access = ACCESS_ALL | ACCESS_FLUSH_GLOBAL;
	size_t len = 64 * KIB;
	uint64_t value = 0xa70311c0ffee0016ULL;
	struct host_buf src, h;
	struct bar_buf b;
	int fd;

	CHECK_LIB(p2pmr_dmabuf_export(c->dev, c->bar, &(struct p2pmr_range){ FLUSH_OFFSET, len },
				     1, &fd));
	if (expect_reg_error(c, "persistent flush access to a BAR MR", fd, 0, len, IOVA_BASE,
			     ACCESS_ALL | ACCESS_FLUSH_PERSISTENT, EOPNOTSUPP))
		return 1;
	close(fd);
	CHECK_ERR(host_buf_reg(c, len, ACCESS_ALL | ACCESS_FLUSH_PERSISTENT, &h), EINVAL);
	printf("persistent flush access to host memory (not pmem): %s\n", strerror(EINVAL));

	CHECK_OK(host_buf_new(c, len, &src));
	CHECK_OK(host_buf_reg(c, len, access, &h));
	CHECK_OK(bar_buf_reg(c, FLUSH_OFFSET, len, access, &b));
	printf("global flush access: a host MR and a BAR MR registered\n");
	CHECK_OK(loop_connect_wr(c));

	CHECK_WC(atomic_write(c, (uintptr_t)h.buf + 8, h.mr->rkey, value), IBV_WC_SUCCESS);
	if (memcmp(h.buf + 8, &value, 8))
		return fail("ATOMIC WRITE did not land in host memory");
	value = ~value;
	CHECK_WC(atomic_write(c, bar_iova(&b, 8), b.mr->rkey, value), IBV_WC_SUCCESS);
	CHECK_OK(expect_bar(c, b.offset + 8, &value, 8, "ATOMIC WRITE"));
	printf("an 8-byte ATOMIC WRITE landed in host memory and in the BAR\n");

	pattern_fill((uint64_t *)src.buf, len, 0xf1a5);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)src.buf, len, src.mr->lkey,
			  (uintptr_t)h.buf, h.mr->rkey), IBV_WC_SUCCESS);
	CHECK_WC(flush_global(c, (uintptr_t)h.buf, h.mr->rkey, len), IBV_WC_SUCCESS);
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)src.buf, len, src.mr->lkey,
			  bar_iova(&b, 0), b.mr->rkey), IBV_WC_SUCCESS);
	CHECK_WC(flush_global(c, bar_iova(&b, 0), b.mr->rkey, len), IBV_WC_SUCCESS);
	printf("FLUSH (global, range) after an RDMA WRITE completed on the host MR and the BAR MR, posted by %s\n",
	       FLUSH_POSTED_BY);
	if (memcmp(h.buf, src.buf, len))
		return fail("the RDMA WRITE did not land in host memory");
	CHECK_OK(expect_bar(c, b.offset, src.buf, len, "RDMA WRITE before FLUSH"));
	/* An MR without flush access: the responder must refuse the FLUSH. */
	CHECK_WC(loop_run(&c->loop, IBV_WR_RDMA_WRITE, (uintptr_t)h.buf, len, h.mr->lkey,
			  (uintptr_t)src.buf, src.mr->rkey), IBV_WC_SUCCESS);
	CHECK_WC(flush_global(c, (uintptr_t)src.buf, src.mr->rkey, len), IBV_WC_REM_ACCESS_ERR);
	printf("FLUSH of an MR without flush access: %s\n", ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	bar_buf_free(&b);
	host_buf_free(&h);
	host_buf_free(&src);
	return 0;
}

struct test_case {
	const char *name;
	const char *desc;
	int (*fn)(struct ctx *c);
	bool own_loop;	/* opens its verbs objects itself */
};

static const struct test_case cases[] = {
	{ "write-into-bar", "RDMA WRITE from host memory lands in the BAR (host file)", case_write_into_bar, false },
	{ "read-from-bar", "RDMA READ from the BAR MR returns the BAR's bytes", case_read_from_bar, false },
	{ "send-into-bar", "SEND received into a BAR MR lands in the BAR", case_send_into_bar, false },
	{ "send-from-bar", "SEND gathered from a BAR MR arrives intact", case_send_from_bar, false },
	{ "send-stream", "96 SENDs received in turn into 16 BAR MR slots (as ib_send_bw does)", case_send_stream, false },
	{ "atomics", "fetch-and-add and compare-and-swap on a BAR MR are exact", case_atomics, false },
	{ "udmabuf", "RDMA WRITE and READ on a udmabuf (struct page) dma-buf MR", case_udmabuf, false },
	{ "bad-input", "bad ranges, iova, access flags and fds are refused with clear errnos", case_bad_input, false },
	{ "mr-scattered", "an MR over scattered, overlapping and repeated BAR pages: WRITE and READ through it", case_mr_scattered, false },
	{ "mr-4096-ranges", "an MR over 4096 one-page ranges: WRITE lands in each BAR page, READ returns them", case_mr_4096_ranges, false },
	{ "revoke-memory-disable", "clearing decode: remote access / local protection errors, no byte written; restore works", case_revoke_memory_disable, false },
	{ "revoke-reset", "the MR works again after VFIO_DEVICE_RESET", case_revoke_reset, false },
	{ "reset-after-error", "QPs reset at once after a remote access error come back to RTS, every time (--seconds)", case_reset_after_error, false },
	{ "revoke-mid-traffic", "traffic, dereg and QP destroy while decode toggles and resets run", case_revoke_mid_traffic, false },
	{ "killed-process", "a process killed with a live MR under traffic leaves no dma-buf or MR", case_killed_process, true },
	{ "reg-race-decode", "registrations of 4 and 64 KiB MRs from 3 threads while decode toggles: success or ENODEV, nothing left", case_reg_race_decode, false },
	{ "reg-race-reset", "registrations from 3 threads while resets (and D3hot/D0) run: success or ENODEV, nothing left", case_reg_race_reset, false },
	{ "reg-race-close", "registrations from 3 threads while their dma-buf fds are closed and replaced: success, ENODEV, EBADF or EINVAL", case_reg_race_close, false },
	{ "reg-race-device-close", "registrations in another process while the VFIO device is closed and reopened: success or ENODEV", case_reg_race_device_close, false },
	{ "readonly-export", "nobody with a read-only dma-buf: write access EACCES, remote read works; a read-write one takes a WRITE", case_readonly_export, false },
	{ "flush-atomic-write", "ATOMIC WRITE lands in host memory and the BAR; global flush access works, persistent is refused", case_flush_atomic_write, false },
};

static void usage(void)
{
	fprintf(stderr, "usage: rdma-dmabuf-test --list | CASE --device BDF [--bar N] [--file F] [--ib-dev NAME] [--gid-index N] [--seconds S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'D' },
		{ "bar", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		RDMA_OPT_IB_DEV,
		RDMA_OPT_GID_INDEX,
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .bar = 2, .seconds = 10 };
	const struct test_case *tc = NULL;
	void *map;
	int opt, ret;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		CASES_PRINT(cases);
		return 0;
	}
	rdma_opts_init(&c.rdma, "rxe0");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		ret = rdma_opt(&c.rdma, opt, optarg, "rdma-dmabuf-test");
		if (ret == EINVAL)
			return 2;
		if (!ret)
			continue;
		switch (opt) {
		case 'D': c.addr = optarg; break;
		case 'b': c.bar = atoi(optarg); break;
		case 'f': c.file = optarg; break;
		case 's': c.seconds = atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	tc = CASES_FIND(cases, optind < argc ? argv[optind] : NULL);
	if (!tc || !c.addr) {
		usage();
		return 2;
	}
	c.page = sysconf(_SC_PAGESIZE);
	if (p2pmr_device_open(c.addr, P2PMR_VFIO_API_AUTO, &c.dev))
		return fail("%s", p2pmr_last_error());
	if (p2pmr_bar_mmap(c.dev, c.bar, &map, &c.bar_len))
		return fail("%s", p2pmr_last_error());
	c.bar_map = map;
	if (!tc->own_loop && loop_open(&c.loop, c.rdma.ib_dev, c.rdma.gid_index))
		return 1;
	ret = tc->fn(&c);
	loop_close(&c.loop);
	/* reg-race-device-close opens the device and maps the BAR anew */
	if (c.bar_map)
		p2pmr_bar_munmap((void *)c.bar_map, c.bar_len);
	p2pmr_device_close(c.dev);
	return ret;
}
