// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr write: put bytes (a text or a file) into a BAR by RDMA. The bytes
 * sit in a host memory MR; the pages of the BAR that will hold them are
 * exported as a dma-buf and registered as an MR addressed by BAR offset;
 * one RC QP of the RDMA device RDMA WRITEs from the first into the second
 * through its loopback peer (rdma_loop.c), in work requests of at most
 * WRITE_CHUNK bytes. --verify reads the BAR back through VFIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "rdma_loop.h"
#include "rdma_opts.h"
#include "sizes.h"
#include "write.h"

#define WRITE_CHUNK (1u << 20)
#define WRITE_DEPTH 16
#define READ_STEP 65536

struct write_opts {
	const char *pci;
	int bar;			/* -1: not given */
	uint64_t offset;
	const char *text;
	const char *file;		/* "-": standard input */
	struct rdma_opts rdma;
	bool verify;
};

struct writer {
	struct write_opts opts;
	uint8_t *data;			/* the bytes, in host memory */
	size_t len;
	struct p2pmr_device *dev;
	struct p2pmr_bar_info bar;
	struct p2pmr_range range;	/* the pages of the BAR exported */
	int dmabuf_fd;
	struct rdma_loop loop;
	struct ibv_mr *local_mr;
	struct p2pmr_mr *bar_mr;
	unsigned int requests;
	double seconds;
};

void write_usage(FILE *out)
{
	struct rdma_opts defaults;

	rdma_opts_init(&defaults, NULL);
	fprintf(out,
		"usage: p2pmr write PCI --bar N [--offset O] (--text STRING | --file PATH) [options]\n"
		"  RDMA WRITE the bytes, from a host memory MR, into BAR N of PCI at offset O\n"
		"  (default 0): the BAR pages they land in are exported as a dma-buf and\n"
		"  registered as an MR; the RDMA device writes to itself over two RC QPs.\n"
		"  -b, --bar N            the BAR\n"
		"  -o, --offset O         where in the BAR (any byte offset; default 0)\n"
		"  -t, --text STRING      the bytes of STRING (no terminating NUL)\n"
		"  -f, --file PATH        the bytes of a file ('-': standard input)\n");
	rdma_opts_usage(out, &defaults);
	fprintf(out,
		"      --verify           read the bytes back through VFIO mmap and compare\n");
}

enum { OPT_VERIFY = 256 };

static const struct option write_long_opts[] = {
	{ "bar", required_argument, NULL, 'b' },
	{ "offset", required_argument, NULL, 'o' },
	{ "text", required_argument, NULL, 't' },
	{ "file", required_argument, NULL, 'f' },
	RDMA_OPT_IB_DEV,
	RDMA_OPT_IB_PORT,
	RDMA_OPT_GID_INDEX,
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

/* 0, 1 (--help shown), or the exit status 2 for a usage error. */
static int write_parse_one(struct write_opts *o, int c, const char *arg)
{
	uint64_t v = 0;
	int ret;

	ret = rdma_opt(&o->rdma, c, arg, "p2pmr write");
	if (ret != ENOENT)
		return ret ? 2 : 0;
	switch (c) {
	case 'b':
		ret = size_opt("p2pmr write", "BAR", arg, 0, P2PMR_MAX_BARS - 1, &v);
		o->bar = v;
		return ret;
	case 'o':
		return size_opt("p2pmr write", "offset", arg, 0, UINT64_MAX, &o->offset);
	case 't':
		o->text = arg;
		return 0;
	case 'f':
		o->file = arg;
		return 0;
	case OPT_VERIFY:
		o->verify = true;
		return 0;
	case 'h':
		write_usage(stdout);
		return 1;
	default:
		write_usage(stderr);
		return 2;
	}
}

static int write_parse(struct write_opts *o, int argc, char **argv)
{
	int c, ret;

	*o = (struct write_opts){ .bar = -1 };
	rdma_opts_init(&o->rdma, NULL);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:o:t:f:h" RDMA_OPTS_SHORT, write_long_opts,
				NULL)) != -1) {
		ret = write_parse_one(o, c, optarg);
		if (ret)
			return ret;
	}
	if (optind != argc - 1 || o->bar < 0 || !o->text == !o->file) {
		fprintf(stderr, "p2pmr write: %s\n",
			optind > argc - 1 ? "name the PCI device" :
			optind < argc - 1 ? "one PCI device only" :
			o->bar < 0 ? "--bar N is needed" : "give either --text or --file");
		write_usage(stderr);
		return 2;
	}
	o->pci = argv[optind];
	return 0;
}

/* The whole of fd into a malloc()ed buffer. */
static int read_all(int fd, uint8_t **datap, size_t *lenp)
{
	size_t len = 0, cap = 0;
	uint8_t *data = NULL, *bigger;
	ssize_t n;
	int ret;

	for (;;) {
		if (cap - len < READ_STEP) {
			cap = cap ? 2 * cap : 4 * READ_STEP;
			bigger = realloc(data, cap);
			if (!bigger) {
				free(data);
				return ENOMEM;
			}
			data = bigger;
		}
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno;
			free(data);
			return ret;
		}
		if (!n)
			break;
		len += n;
	}
	*datap = data;
	*lenp = len;
	return 0;
}

static int load_data(struct writer *w)
{
	const char *path = w->opts.file;
	int fd, ret;

	if (w->opts.text) {
		w->len = strlen(w->opts.text);
		w->data = malloc(w->len ? w->len : 1);
		if (!w->data)
			return ENOMEM;
		memcpy(w->data, w->opts.text, w->len);
	} else {
		fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
		if (fd < 0) {
			ret = errno;
			fprintf(stderr, "p2pmr write: cannot open %s: %s\n", path, strerror(ret));
			return ret;
		}
		ret = read_all(fd, &w->data, &w->len);
		if (fd != STDIN_FILENO)
			close(fd);
		if (ret) {
			fprintf(stderr, "p2pmr write: cannot read %s: %s\n", path, strerror(ret));
			return ret;
		}
	}
	if (!w->len) {
		fprintf(stderr, "p2pmr write: nothing to write (the %s is empty)\n",
			w->opts.text ? "text" : "file");
		return EINVAL;
	}
	return 0;
}

/* Open the device, check the bytes fit the BAR, export the pages they need. */
static int export_target(struct writer *w)
{
	const struct write_opts *o = &w->opts;
	uint64_t page = sysconf(_SC_PAGESIZE), end;
	char size[32];

	if (p2pmr_device_open(o->pci, P2PMR_VFIO_API_AUTO, &w->dev) ||
	    p2pmr_device_bar_info(w->dev, o->bar, &w->bar)) {
		fprintf(stderr, "p2pmr write: %s\n", p2pmr_last_error());
		return EIO;
	}
	if (!w->bar.size || !w->bar.is_memory) {
		fprintf(stderr, "p2pmr write: BAR %d of %s is not a memory BAR\n", o->bar, o->pci);
		return EINVAL;
	}
	if (o->offset >= w->bar.size || w->len > w->bar.size - o->offset) {
		fprintf(stderr,
			"p2pmr write: %zu bytes at offset 0x%" PRIx64 " end past BAR %d of %s (%s bytes)\n",
			w->len, o->offset, o->bar, o->pci, format_size(w->bar.size, size, sizeof(size)));
		return EINVAL;
	}
	end = (o->offset + w->len + page - 1) & ~(page - 1);
	w->range.offset = o->offset & ~(page - 1);
	w->range.length = end - w->range.offset;
	if (p2pmr_dmabuf_export(w->dev, o->bar, &w->range, 1, &w->dmabuf_fd)) {
		fprintf(stderr, "p2pmr write: %s\n", p2pmr_last_error());
		return EIO;
	}
	return 0;
}

/* The host buffer and the BAR range as MRs of the loop's PD. */
static int register_mrs(struct writer *w)
{
	const struct write_opts *o = &w->opts;

	w->local_mr = ibv_reg_mr(w->loop.pd, w->data, w->len, IBV_ACCESS_LOCAL_WRITE);
	if (!w->local_mr) {
		fprintf(stderr, "p2pmr write: ibv_reg_mr of the host buffer failed: %s\n",
			strerror(errno));
		return EIO;
	}
	/* Addressed by BAR offset: the RDMA address of a byte is where it lands. */
	w->bar_mr = p2pmr_reg_dmabuf_mr(w->loop.pd, 0, w->range.length, w->range.offset,
					w->dmabuf_fd,
					IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!w->bar_mr) {
		fprintf(stderr, "p2pmr write: registering BAR %d of %s as an MR failed: %s\n",
			o->bar, o->pci, p2pmr_last_error());
		return EIO;
	}
	return 0;
}

/* Work request i: bytes [i * WRITE_CHUNK, (i + 1) * WRITE_CHUNK), or to the end. */
static int post_chunk(void *arg, uint64_t i)
{
	struct writer *w = arg;
	uint64_t at = i * WRITE_CHUNK;
	struct ibv_sge sge = {
		.addr = (uintptr_t)w->data + at,
		.length = w->len - at < WRITE_CHUNK ? w->len - at : WRITE_CHUNK,
		.lkey = w->local_mr->lkey,
	};

	return loop_post_send(&w->loop, IBV_WR_RDMA_WRITE, &sge,
			      w->opts.offset + at, w->bar_mr->rkey);
}

/* RDMA WRITE all the bytes, at most WRITE_DEPTH requests in flight. */
static int rdma_write_all(struct writer *w)
{
	w->requests = (w->len + WRITE_CHUNK - 1) / WRITE_CHUNK;
	if (!loop_run(&w->loop, w->requests, WRITE_DEPTH, false, post_chunk, w, &w->seconds))
		return 0;
	fprintf(stderr, "p2pmr write: RDMA WRITE into BAR %d of %s: %s\n", w->opts.bar,
		w->opts.pci, p2pmr_last_error());
	return EIO;
}

static void report(const struct writer *w)
{
	const struct write_opts *o = &w->opts;
	char chunk[32];

	printf("wrote %zu bytes (%s) from host memory into BAR %d of %s, bytes [0x%" PRIx64 ", 0x%" PRIx64 ")\n",
	       w->len, o->text ? "the text" : strcmp(o->file, "-") ? o->file : "standard input", o->bar, o->pci, o->offset, o->offset + w->len);
	printf("  how:    RDMA WRITE on %s port %u (GID index %d), QP %u to QP %u, %u work request%s of at most %s bytes, %.3f ms\n",
	       w->loop.dev_name, w->loop.port, w->loop.gid_index,
	       w->loop.qp[LOOP_REQUESTER]->qp_num, w->loop.qp[LOOP_RESPONDER]->qp_num,
	       w->requests, w->requests == 1 ? "" : "s",
	       format_size(WRITE_CHUNK, chunk, sizeof(chunk)), w->seconds * 1e3);
	printf("  source: host buffer, MR lkey 0x%x\n", w->local_mr->lkey);
	printf("  target: dma-buf of BAR %d bytes [0x%" PRIx64 ", 0x%" PRIx64 "), MR rkey 0x%x at iova 0x%" PRIx64 ", registered %s\n",
	       o->bar, w->range.offset, w->range.offset + w->range.length, w->bar_mr->rkey,
	       w->bar_mr->iova, p2pmr_mr_is_fallback(w->bar_mr) ?
	       "through the uverbs fallback (UVERBS_METHOD_REG_DMABUF_MR)" :
	       "by the provider (ibv_reg_dmabuf_mr)");
}

static int verify(struct writer *w)
{
	const volatile uint8_t *got;
	size_t bar_len, i;
	void *bar;
	int ret = 0;

	if (p2pmr_bar_mmap(w->dev, w->opts.bar, &bar, &bar_len)) {
		fprintf(stderr, "p2pmr write: verify: %s\n", p2pmr_last_error());
		return EIO;
	}
	got = (const volatile uint8_t *)bar + w->opts.offset;
	for (i = 0; i < w->len && !ret; i++) {
		if (got[i] != w->data[i]) {
			fprintf(stderr, "p2pmr write: verify: BAR byte 0x%" PRIx64 " is 0x%02x, expected 0x%02x\n",
				w->opts.offset + i, got[i], w->data[i]);
			ret = EIO;
		}
	}
	if (!ret)
		printf("  verify: BAR %d read back through VFIO mmap: the %zu bytes match\n",
		       w->opts.bar, w->len);
	p2pmr_bar_munmap(bar, bar_len);
	return ret;
}

static void write_teardown(struct writer *w)
{
	if (w->bar_mr && p2pmr_dereg_mr(w->bar_mr))
		fprintf(stderr, "p2pmr write: %s\n", p2pmr_last_error());
	if (w->local_mr)
		ibv_dereg_mr(w->local_mr);
	if (w->loop.ctx)
		loop_close(&w->loop);
	if (w->dmabuf_fd >= 0)
		close(w->dmabuf_fd);
	if (w->dev)
		p2pmr_device_close(w->dev);
	free(w->data);
}

int write_main(int argc, char **argv)
{
	struct writer w = { .dmabuf_fd = -1 };
	int ret;

	ret = write_parse(&w.opts, argc, argv);
	if (ret)
		return ret == 1 ? 0 : ret;
	ret = load_data(&w);
	if (!ret)
		ret = export_target(&w);
	if (!ret && loop_open(&w.loop, &w.opts.rdma, WRITE_DEPTH)) {
		fprintf(stderr, "p2pmr write: %s\n", p2pmr_last_error());
		ret = EIO;
	}
	if (!ret)
		ret = register_mrs(&w);
	if (!ret)
		ret = rdma_write_all(&w);
	if (!ret)
		report(&w);
	if (!ret && w.opts.verify)
		ret = verify(&w);
	write_teardown(&w);
	return ret ? 1 : 0;
}
