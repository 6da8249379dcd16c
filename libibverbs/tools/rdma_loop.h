/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Two RC QPs on one RDMA device, connected to each other through the
 * port's own address (GID, or LID on InfiniBand): a requester that posts
 * the operations and a responder that owns the target memory.
 */
#ifndef P2PMR_TOOL_RDMA_LOOP_H
#define P2PMR_TOOL_RDMA_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "rdma_opts.h"

enum loop_side { LOOP_REQUESTER, LOOP_RESPONDER, LOOP_SIDES };

struct rdma_loop {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq[LOOP_SIDES];
	struct ibv_qp *qp[LOOP_SIDES];
	uint8_t port;
	int gid_index;
	unsigned int depth;		/* work requests in flight per queue */
	char dev_name[64];
};

/* Completions reaped so far, of each kind. */
struct loop_counts {
	uint64_t sends;			/* requester's send queue: any opcode */
	uint64_t recvs;			/* responder's receive queue */
};

/*
 * Functions that can fail return 0 or a positive errno value and leave the
 * message in p2pmr_last_error(): what failed and, where known, why and the
 * fix.
 */
int loop_open(struct rdma_loop *loop, const struct rdma_opts *rdma, unsigned int depth);
void loop_close(struct rdma_loop *loop);
/*
 * Both QPs back through RESET to RTS, connected again, their CQs drained:
 * after a failed work request left them in the error state.
 */
int loop_reconnect(struct rdma_loop *loop);

int loop_post_send(struct rdma_loop *loop, enum ibv_wr_opcode opcode,
		   const struct ibv_sge *local, uint64_t remote_addr, uint32_t rkey);
int loop_post_recv(struct rdma_loop *loop, const struct ibv_sge *sge);
/* Poll both CQs once; a failed completion is an error (EIO). */
int loop_reap(struct rdma_loop *loop, struct loop_counts *counts);

/* Posts the work requests of operation i (0, 1, ...) of a run. */
typedef int (*loop_post_fn)(void *arg, uint64_t i);

#define LOOP_STALL_SECONDS 30.0

/*
 * n operations, each posted by post(arg, i), at most window in flight. One
 * is done when its send completes and, with recvs, a receive too. A failed
 * post or completion, or LOOP_STALL_SECONDS without a completion
 * (ETIMEDOUT), ends the run. *seconds: the time the n operations took.
 */
int loop_run(struct rdma_loop *loop, uint64_t n, unsigned int window, bool recvs,
	     loop_post_fn post, void *arg, double *seconds);

/* CLOCK_MONOTONIC, in seconds. */
double loop_now(void);

#endif /* P2PMR_TOOL_RDMA_LOOP_H */
