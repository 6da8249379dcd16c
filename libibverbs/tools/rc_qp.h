/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Bringing an RC QP from RESET to RTS, connected to one remote QP: the
 * attribute sequence the p2pmr command (rdma_loop.c) and the C tests share.
 */
#ifndef P2PMR_TOOL_RC_QP_H
#define P2PMR_TOOL_RC_QP_H

#include <stdint.h>

#include <infiniband/verbs.h>

/* Reads and atomics in flight, each way. */
#define RC_QP_RD_ATOMIC 16

/*
 * RESET -> INIT -> RTR -> RTS. The QP takes remote write, read and atomics;
 * it reaches QP @remote_qpn by @ah (a LID, or a GID route with is_global;
 * ah->port_num is the local port) with path MTU @mtu; PSNs start at 0 on
 * both sides. Returns 0, or the errno of the transition that failed, named
 * in *failed ("INIT", "RTR" or "RTS").
 */
int rc_qp_connect(struct ibv_qp *qp, const struct ibv_ah_attr *ah, uint32_t remote_qpn,
		  enum ibv_mtu mtu, const char **failed);

#endif /* P2PMR_TOOL_RC_QP_H */
