// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* RC QP connection (rc_qp.h). */
#include <errno.h>

#include "rc_qp.h"

static int rc_qp_to_init(struct ibv_qp *qp, uint8_t port)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.port_num = port,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};

	return ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			     IBV_QP_ACCESS_FLAGS);
}

static int rc_qp_to_rtr(struct ibv_qp *qp, const struct ibv_ah_attr *ah, uint32_t remote_qpn,
			enum ibv_mtu mtu)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.ah_attr = *ah,
		.path_mtu = mtu,
		.dest_qp_num = remote_qpn,
		.max_dest_rd_atomic = RC_QP_RD_ATOMIC,
		.min_rnr_timer = 12,
	};

	return ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			     IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			     IBV_QP_MIN_RNR_TIMER);
}

static int rc_qp_to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,
		.retry_cnt = 7,
		.rnr_retry = 7,
		.max_rd_atomic = RC_QP_RD_ATOMIC,
	};

	return ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

int rc_qp_connect(struct ibv_qp *qp, const struct ibv_ah_attr *ah, uint32_t remote_qpn,
		  enum ibv_mtu mtu, const char **failed)
{
	int ret;

	*failed = "INIT";
	ret = rc_qp_to_init(qp, ah->port_num);
	if (ret)
		return ret;
	*failed = "RTR";
	ret = rc_qp_to_rtr(qp, ah, remote_qpn, mtu);
	if (ret)
		return ret;
	*failed = "RTS";
	ret = rc_qp_to_rts(qp);
	if (ret)
		return ret;
	*failed = NULL;
	return 0;
}
