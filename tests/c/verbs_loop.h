/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Two RC QPs of one RDMA device connected to each other through the port's
 * own GID (rxe loops such traffic back), for tests that need an RDMA peer
 * in the same process. qp[0] posts the work requests, qp[1] is the target.
 * Functions return 0 or a negative errno value and say what failed on
 * stderr.
 */
#ifndef P2PMR_TEST_VERBS_LOOP_H
#define P2PMR_TEST_VERBS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

struct verbs_loop {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	union ibv_gid gid;
	int gid_index;
	enum ibv_mtu mtu;
	bool pd_borrowed;	/* loop_open_pd(): the PD is not ours to free */
	/* 0: QPs of ibv_create_qp(); else of ibv_create_qp_ex() with these ops */
	uint64_t send_ops;
};

int loop_open(struct verbs_loop *l, const char *ibdev, int gid_index);
/*
 * A loop of its own CQ and QPs on @pd, which someone else opened and
 * closes (several loops on one PD reach each other's MRs); loop_close()
 * leaves @pd and its context alone.
 */
int loop_open_pd(struct verbs_loop *l, struct ibv_pd *pd, int gid_index);
/* (Re)create both QPs and bring them to RTS, e.g. after an error. */
int loop_connect(struct verbs_loop *l);
/*
 * Move both QPs to RESET, drop their completions and bring the same QPs
 * back to RTS, as a consumer recovers from an error completion (the way
 * p2pmr hw-check does).
 */
int loop_reset(struct verbs_loop *l);
void loop_close(struct verbs_loop *l);

/*
 * Post one work request on qp[0]: RDMA WRITE/READ (@raddr, @rkey) or SEND
 * of [@addr, +@len) of the MR @lkey, signalled; the atomics take
 * @compare_add and @swap.
 */
int loop_post(struct verbs_loop *l, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	      uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t compare_add,
	      uint64_t swap);
/* Post a receive of [@addr, +@len) of the MR @lkey on qp[1]. */
int loop_post_recv(struct verbs_loop *l, uint64_t addr, uint32_t len, uint32_t lkey);
/* Wait (10 s at most) for the next completion; its status in @wc. */
int loop_wait(struct verbs_loop *l, struct ibv_wc *wc);
/*
 * loop_post() and wait for its completion; returns its status, or -errno
 * if posting or waiting failed.
 */
int loop_run(struct verbs_loop *l, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	     uint32_t lkey, uint64_t raddr, uint32_t rkey);

#endif /* P2PMR_TEST_VERBS_LOOP_H */
