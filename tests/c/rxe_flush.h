/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * FLUSH work requests on rxe for libibverbs older than rdma-core 47, which
 * has no ibv_wr_flush(): rdma-core 44's rxe provider cannot post a FLUSH,
 * although the kernel's rxe executes it. Test code only; with rdma-core 47
 * and later use ibv_wr_flush().
 */
#ifndef P2PMR_TEST_RXE_FLUSH_H
#define P2PMR_TEST_RXE_FLUSH_H

#include <stdint.h>

#include <infiniband/verbs.h>

/* What the last work request posted on a QP was: how its ring is found. */
struct rxe_marker {
	uint64_t wr_id;		/* an RDMA WRITE, completed */
	uint64_t raddr;
	uint32_t rkey;
};

/*
 * Post a signalled FLUSH of [@raddr, +@len) of @rkey, of @type
 * (IB_FLUSH_GLOBAL, _PERSISTENT) and @level (IB_FLUSH_RANGE, _MR;
 * <rdma/ib_user_verbs.h>), on @qp, an rxe QP of ibv_create_qp_ex() whose
 * last work request is @marker. Its completion comes on the QP's send CQ.
 * 0 or -errno.
 */
int rxe_post_flush(struct ibv_qp *qp, const struct rxe_marker *marker, uint64_t wr_id,
		   uint32_t rkey, uint64_t raddr, uint32_t len, uint8_t type, uint8_t level);

#endif /* P2PMR_TEST_RXE_FLUSH_H */
