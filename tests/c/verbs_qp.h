/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * RC queue pairs for the C tests: open an RDMA device by name, create a QP
 * and connect it to a remote QP given its number and GID (RoCE: global
 * routing; the transitions are the p2pmr command's, libibverbs/tools/rc_qp.c),
 * post RDMA work requests, wait for completions. Used by
 * verbs_loop.c (two QPs of one device) and rdma_pair_test.c (one QP on
 * each of two machines). Functions return 0 or a negative errno value and
 * say what failed on stderr.
 */
#ifndef P2PMR_TEST_VERBS_QP_H
#define P2PMR_TEST_VERBS_QP_H

#include <stdint.h>

#include <infiniband/verbs.h>

#define VERBS_PORT	1

/* The device called @ibdev, opened; NULL (errno set) if there is none. */
struct ibv_context *verbs_open(const char *ibdev);
/* Port 1 must be active: its GID @gid_index and its active MTU. */
int verbs_port(struct ibv_context *ctx, int gid_index, union ibv_gid *gid,
	       enum ibv_mtu *mtu);

/* An RC QP with @depth send and receive work requests, one SGE each. */
int qp_create(struct ibv_pd *pd, struct ibv_cq *cq, unsigned int depth,
	      struct ibv_qp **qpp);
/*
 * The same through ibv_create_qp_ex() with @send_ops (IBV_QP_EX_WITH_*), for
 * the ibv_wr_*() API (ibv_qp_to_qp_ex()).
 */
int qp_create_ex(struct ibv_pd *pd, struct ibv_cq *cq, unsigned int depth,
		 uint64_t send_ops, struct ibv_qp **qpp);
/*
 * RESET to RTS, connected to QP @remote_qpn at @remote_gid, sending from
 * the local GID @gid_index with path MTU @mtu. Remote write, read and
 * atomics are allowed; PSNs start at 0 on both sides.
 */
int qp_connect(struct ibv_qp *qp, uint32_t remote_qpn, const union ibv_gid *remote_gid,
	       int gid_index, enum ibv_mtu mtu);

/*
 * Post one signalled work request: RDMA WRITE/READ (@raddr, @rkey) or SEND
 * of [@addr, +@len) of the MR @lkey; the atomics take @compare_add and
 * @swap. The work request id is @op.
 */
int qp_post(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	    uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t compare_add,
	    uint64_t swap);

/*
 * A CQ of @cqe entries with a completion channel of its own, on which
 * cq_wait() sleeps; NULL (errno set) on failure. The tests run in a guest
 * whose vCPUs share one host thread: a process spinning on an empty CQ
 * takes that thread from the kernel work that makes the completions.
 */
struct ibv_cq *cq_create(struct ibv_context *ctx, int cqe);
/* Destroy a CQ of cq_create() and its channel. */
void cq_destroy(struct ibv_cq *cq);

/* CLOCK_MONOTONIC in milliseconds, for the deadlines of cq_wait(). */
long long verbs_now_ms(void);
/*
 * Wait for the next completion of @cq (of cq_create()) until @deadline_ms,
 * asleep on its completion channel; its status in @wc.
 */
int cq_wait(struct ibv_cq *cq, struct ibv_wc *wc, long long deadline_ms);

#endif /* P2PMR_TEST_VERBS_QP_H */
