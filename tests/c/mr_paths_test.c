// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * mr-paths-test: a dma-buf MR of a VFIO BAR through each of libp2pmr's
 * registration paths, end to end, in one process small enough to run
 * under valgrind. For each path: register 64 KiB of the BAR with
 * p2pmr_reg_dmabuf_mr(), check which path made it and what the caller
 * gets (the provider's ibv_mr, or none from the kernel method), RDMA WRITE
 * a pattern into it and READ it back over two RC QPs, deregister it with
 * p2pmr_dereg_mr(). The paths:
 *  1. the kernel method, forced (P2PMR_FORCE_UVERBS=1): the provider is
 *     not asked;
 *  2. the provider as it is: for rxe in rdma-core 44, EOPNOTSUPP, then the
 *     kernel method (a provider with the op registers it itself);
 *  3. the provider's op, which this program gives rxe (provider_op.c) as
 *     providers/0001 does: its ibv_mr belongs to the p2pmr_mr.
 *
 *   mr-paths-test --device BDF [--bar N] [--ib-dev NAME] [--gid-index N]
 *
 * Exit status 0 when every path held, 1 when one did not, 2 for bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "p2pmr.h"
#include "pattern.h"
#include "provider_op.h"
#include "rdma_opts.h"
#include "verbs_loop.h"

#define MR_OFFSET	(3ULL << 20)	/* in the BAR; no other rdma-lib test uses it */
#define MR_LEN		(64 << 10)
#define IOVA		0x7e0000000000ULL

struct path {
	const char *name;
	bool force_uverbs;	/* P2PMR_FORCE_UVERBS=1 */
	bool provider_op;	/* provider_op.c gives the provider the op */
};

static const struct path paths[] = {
	{ "the kernel method, forced", true, false },
	{ "the provider as it is", false, false },
	{ "the provider's op", false, true },
};

struct ctx {
	struct p2pmr_device *dev;
	int fd;				/* the dma-buf */
	struct verbs_loop loop;
	uint8_t *buf;			/* 2 * MR_LEN: what is written, what is read */
	struct ibv_mr *host;
};

/* Which path the provider's answer calls for: true for the provider's. */
static int expected_path(const struct path *p, bool *by_provider)
{
	switch (provider_op_result) {
	case PROVIDER_NOT_CALLED:
		*by_provider = false;
		return p->force_uverbs ? 0 : fail("the provider was not asked");
	case PROVIDER_MADE:
	case PROVIDER_OP_MADE:
		*by_provider = true;
		return p->force_uverbs ? fail("the provider was asked despite P2PMR_FORCE_UVERBS") : 0;
	case PROVIDER_LACKS_OP:
		*by_provider = false;
		return p->force_uverbs ? fail("the provider was asked despite P2PMR_FORCE_UVERBS") : 0;
	default:
		return fail("the provider failed");
	}
}

/* What the caller may see of the MR: the path the provider's answer calls for. */
static int check_mr(const struct p2pmr_mr *mr, struct ibv_pd *pd, bool by_provider)
{
	struct ibv_mr *ibv_mr = p2pmr_mr_ibv_mr(mr);

	printf("  MR: lkey 0x%x rkey 0x%x handle %u iova 0x%" PRIx64 " length %" PRIu64
	       ", registered %s\n", mr->lkey, mr->rkey, mr->handle, mr->iova, mr->length,
	       ibv_mr ? "by the provider (ibv_reg_dmabuf_mr)" : "by the kernel method");
	if (mr->pd != pd || mr->iova != IOVA || mr->length != MR_LEN)
		return fail("expected PD %p, iova 0x%llx, length %d; got %p, 0x%" PRIx64 ", %" PRIu64,
			    (void *)pd, IOVA, MR_LEN, (void *)mr->pd, mr->iova, mr->length);
	if (by_provider != !p2pmr_mr_is_fallback(mr) || by_provider != !!ibv_mr)
		return fail("expected the %s path; p2pmr_mr_is_fallback() says %d, ibv_mr %p",
			    by_provider ? "provider" : "kernel method", p2pmr_mr_is_fallback(mr),
			    (void *)ibv_mr);
	if (ibv_mr && (ibv_mr->pd != pd || ibv_mr->lkey != mr->lkey ||
		       ibv_mr->rkey != mr->rkey || ibv_mr->handle != mr->handle))
		return fail("the provider's ibv_mr (lkey 0x%x rkey 0x%x) is not the MR's",
			    ibv_mr->lkey, ibv_mr->rkey);
	return 0;
}

static int rdma(struct ctx *c, enum ibv_wr_opcode op, uint8_t *local,
		const struct p2pmr_mr *mr)
{
	int ret = loop_run(&c->loop, op, (uintptr_t)local, MR_LEN, c->host->lkey, mr->iova,
			   mr->rkey);

	if (!ret)
		return 0;
	return fail("RDMA %s: %s", op == IBV_WR_RDMA_WRITE ? "WRITE into the MR" :
		    "READ from the MR", ret < 0 ? strerror(-ret) : ibv_wc_status_str(ret));
}

/* WRITE a pattern into the MR, READ it back into the other half, compare. */
static int traffic(struct ctx *c, const struct p2pmr_mr *mr, uint64_t seed)
{
	pattern_fill((uint64_t *)c->buf, MR_LEN, seed);
	memset(c->buf + MR_LEN, 0, MR_LEN);
	if (rdma(c, IBV_WR_RDMA_WRITE, c->buf, mr) ||
	    rdma(c, IBV_WR_RDMA_READ, c->buf + MR_LEN, mr))
		return 1;
	if (memcmp(c->buf, c->buf + MR_LEN, MR_LEN))
		return fail("RDMA READ did not return the bytes RDMA WRITE put into the MR");
	printf("  64 KiB RDMA-written into the MR read back intact\n");
	return 0;
}

static int run_path(struct ctx *c, const struct path *p, uint64_t seed)
{
	struct p2pmr_mr *mr;
	bool by_provider = false;
	int ret;

	printf("%s:\n", p->name);
	if (p->force_uverbs)
		setenv("P2PMR_FORCE_UVERBS", "1", 1);
	else
		unsetenv("P2PMR_FORCE_UVERBS");
	provider_op_on = p->provider_op;
	provider_op_result = PROVIDER_NOT_CALLED;
	mr = p2pmr_reg_dmabuf_mr(c->loop.pd, 0, MR_LEN, IOVA, c->fd, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr)
		return fail("p2pmr_reg_dmabuf_mr: %s", p2pmr_last_error());
	ret = expected_path(p, &by_provider);
	if (!ret)
		ret = check_mr(mr, c->loop.pd, by_provider);
	if (!ret)
		ret = traffic(c, mr, seed);
	if (p2pmr_dereg_mr(mr))
		return fail("p2pmr_dereg_mr: %s", p2pmr_last_error());
	if (!ret)
		printf("  deregistered with p2pmr_dereg_mr()\n");
	return ret;
}

static int setup(struct ctx *c, const char *device, unsigned int bar,
		 const struct rdma_opts *rdma)
{
	struct p2pmr_range range = { MR_OFFSET, MR_LEN };

	if (p2pmr_device_open(device, P2PMR_VFIO_API_AUTO, &c->dev) ||
	    p2pmr_dmabuf_export(c->dev, bar, &range, 1, &c->fd))
		return fail("%s", p2pmr_last_error());
	if (loop_open(&c->loop, rdma->ib_dev, rdma->gid_index))
		return 1;
	c->buf = aligned_alloc(4096, 2 * MR_LEN);
	c->host = c->buf ? ibv_reg_mr(c->loop.pd, c->buf, 2 * MR_LEN, IBV_ACCESS_LOCAL_WRITE) :
		  NULL;
	if (!c->host)
		return fail("host memory MR: %s", strerror(errno));
	return 0;
}

static void teardown(struct ctx *c)
{
	if (c->host)
		ibv_dereg_mr(c->host);
	free(c->buf);
	loop_close(&c->loop);
	if (c->fd >= 0)
		close(c->fd);
	p2pmr_device_close(c->dev);
}

static void usage(void)
{
	fprintf(stderr, "usage: mr-paths-test --device BDF [--bar N] [--ib-dev NAME] [--gid-index N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'D' },
		{ "bar", required_argument, NULL, 'b' },
		RDMA_OPT_IB_DEV,
		RDMA_OPT_GID_INDEX,
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .fd = -1 };
	const char *device = NULL;
	struct rdma_opts rdma;
	unsigned int bar = 2, i;
	int opt, ret;

	rdma_opts_init(&rdma, "rxe0");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		ret = rdma_opt(&rdma, opt, optarg, "mr-paths-test");
		if (ret == EINVAL)
			return 2;
		if (!ret)
			continue;
		switch (opt) {
		case 'D': device = optarg; break;
		case 'b': bar = atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	if (!device || optind != argc) {
		usage();
		return 2;
	}
	ret = setup(&c, device, bar, &rdma);
	for (i = 0; !ret && i < sizeof(paths) / sizeof(paths[0]); i++)
		ret = run_path(&c, &paths[i], 0x3a7b5 + i);
	teardown(&c);
	return ret ? 1 : 0;
}
