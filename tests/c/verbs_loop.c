// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Two RC QPs of one device connected to each other (see verbs_loop.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "verbs_loop.h"
#include "verbs_qp.h"

#define LOOP_DEPTH	64
#define LOOP_WAIT_MS	10000

static int loop_err(const char *what, int err)
{
	fprintf(stderr, "verbs loop: %s: %s\n", what, strerror(err));
	return -err;
}

/* The port, a CQ and the connected QPs, once l->ctx and l->pd are set. */
static int loop_start(struct verbs_loop *l)
{
	int ret;

	ret = verbs_port(l->ctx, l->gid_index, &l->gid, &l->mtu);
	if (ret)
		return ret;
	l->cq = cq_create(l->ctx, 4 * LOOP_DEPTH);
	if (!l->cq)
		return loop_err("creating the CQ", errno);
	return loop_connect(l);
}

int loop_open(struct verbs_loop *l, const char *ibdev, int gid_index)
{
	memset(l, 0, sizeof(*l));
	l->gid_index = gid_index;
	l->ctx = verbs_open(ibdev);
	if (!l->ctx)
		return -errno;
	l->pd = ibv_alloc_pd(l->ctx);
	if (!l->pd)
		return loop_err("ibv_alloc_pd", errno);
	return loop_start(l);
}

int loop_open_pd(struct verbs_loop *l, struct ibv_pd *pd, int gid_index)
{
	memset(l, 0, sizeof(*l));
	l->gid_index = gid_index;
	l->ctx = pd->context;
	l->pd = pd;
	l->pd_borrowed = true;
	return loop_start(l);
}

static void destroy_qps(struct verbs_loop *l)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 2; i++) {
		if (l->qp[i])
			ibv_destroy_qp(l->qp[i]);
		l->qp[i] = NULL;
	}
	while (ibv_poll_cq(l->cq, 1, &wc) > 0)
		;	/* flushed work requests of the old QPs */
}

int loop_connect(struct verbs_loop *l)
{
	int i, ret;

	destroy_qps(l);
	for (i = 0; i < 2; i++) {
		ret = l->send_ops ?
		      qp_create_ex(l->pd, l->cq, LOOP_DEPTH, l->send_ops, &l->qp[i]) :
		      qp_create(l->pd, l->cq, LOOP_DEPTH, &l->qp[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < 2; i++) {
		ret = qp_connect(l->qp[i], l->qp[!i]->qp_num, &l->gid, l->gid_index, l->mtu);
		if (ret)
			return ret;
	}
	return 0;
}

int loop_reset(struct verbs_loop *l)
{
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc;
	int i, ret;

	for (i = 0; i < 2; i++) {
		ret = ibv_modify_qp(l->qp[i], &reset, IBV_QP_STATE);
		if (ret)
			return loop_err("QP to RESET", ret);
	}
	while (ibv_poll_cq(l->cq, 1, &wc) > 0)
		;	/* a reset drops outstanding work requests */
	for (i = 0; i < 2; i++) {
		ret = qp_connect(l->qp[i], l->qp[!i]->qp_num, &l->gid, l->gid_index, l->mtu);
		if (ret)
			return ret;
	}
	return 0;
}

void loop_close(struct verbs_loop *l)
{
	if (l->cq) {
		destroy_qps(l);
		cq_destroy(l->cq);
	}
	if (l->pd && !l->pd_borrowed)
		ibv_dealloc_pd(l->pd);
	if (l->ctx && !l->pd_borrowed)
		ibv_close_device(l->ctx);
	memset(l, 0, sizeof(*l));
}

int loop_post(struct verbs_loop *l, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	      uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t compare_add,
	      uint64_t swap)
{
	return qp_post(l->qp[0], op, addr, len, lkey, raddr, rkey, compare_add, swap);
}

int loop_post_recv(struct verbs_loop *l, uint64_t addr, uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = { .addr = addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = 0x7ec, .sg_list = &sge, .num_sge = 1 }, *bad;
	int ret = ibv_post_recv(l->qp[1], &wr, &bad);

	return ret ? loop_err("ibv_post_recv", ret) : 0;
}

int loop_wait(struct verbs_loop *l, struct ibv_wc *wc)
{
	long long deadline = verbs_now_ms() + LOOP_WAIT_MS;
	int ret;

	do {
		ret = cq_wait(l->cq, wc, deadline);
		/* Skip late flush completions of QPs destroyed by loop_connect() */
	} while (!ret && wc->qp_num != l->qp[0]->qp_num && wc->qp_num != l->qp[1]->qp_num);
	return ret;
}

int loop_run(struct verbs_loop *l, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	     uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_wc wc;
	int ret = loop_post(l, op, addr, len, lkey, raddr, rkey, 0, 0);

	if (!ret)
		ret = loop_wait(l, &wc);
	return ret ? ret : (int)wc.status;
}
