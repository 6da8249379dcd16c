// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* RC queue pairs for the C tests (see verbs_qp.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rc_qp.h"
#include "verbs_qp.h"

static int verbs_err(const char *what, int err)
{
	fprintf(stderr, "verbs: %s: %s\n", what, strerror(err));
	return -err;
}

struct ibv_context *verbs_open(const char *ibdev)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i, err = ENODEV;

	for (i = 0; list && list[i]; i++) {
		if (strcmp(ibv_get_device_name(list[i]), ibdev))
			continue;
		ctx = ibv_open_device(list[i]);
		if (!ctx)
			err = errno;
		break;
	}
	if (list)
		ibv_free_device_list(list);
	if (!ctx) {
		verbs_err(ibdev, err);
		errno = err;
	}
	return ctx;
}

int verbs_port(struct ibv_context *ctx, int gid_index, union ibv_gid *gid,
	       enum ibv_mtu *mtu)
{
	struct ibv_port_attr port;

	if (ibv_query_port(ctx, VERBS_PORT, &port))
		return verbs_err("ibv_query_port", errno);
	if (port.state != IBV_PORT_ACTIVE)
		return verbs_err("port 1 is not active", ENETDOWN);
	*mtu = port.active_mtu;
	if (ibv_query_gid(ctx, VERBS_PORT, gid_index, gid))
		return verbs_err("ibv_query_gid", errno);
	return 0;
}

static struct ibv_qp_cap qp_cap(unsigned int depth)
{
	return (struct ibv_qp_cap){
		.max_send_wr = depth, .max_recv_wr = depth,
		.max_send_sge = 1, .max_recv_sge = 1,
	};
}

int qp_create(struct ibv_pd *pd, struct ibv_cq *cq, unsigned int depth,
	      struct ibv_qp **qpp)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = qp_cap(depth),
		.qp_type = IBV_QPT_RC,
	};

	*qpp = ibv_create_qp(pd, &init);
	return *qpp ? 0 : verbs_err("ibv_create_qp", errno);
}

int qp_create_ex(struct ibv_pd *pd, struct ibv_cq *cq, unsigned int depth,
		 uint64_t send_ops, struct ibv_qp **qpp)
{
	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = qp_cap(depth),
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
		.send_ops_flags = send_ops,
	};

	*qpp = ibv_create_qp_ex(pd->context, &init);
	return *qpp ? 0 : verbs_err("ibv_create_qp_ex", errno);
}

int qp_connect(struct ibv_qp *qp, uint32_t remote_qpn, const union ibv_gid *remote_gid,
	       int gid_index, enum ibv_mtu mtu)
{
	struct ibv_ah_attr ah = {
		.is_global = 1,
		.grh = { .dgid = *remote_gid, .sgid_index = gid_index, .hop_limit = 1 },
		.port_num = VERBS_PORT,
	};
	const char *failed;
	char what[32];
	int ret;

	ret = rc_qp_connect(qp, &ah, remote_qpn, mtu, &failed);
	if (!ret)
		return 0;
	snprintf(what, sizeof(what), "QP to %s", failed);
	return verbs_err(what, ret);
}

int qp_post(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t addr, uint32_t len,
	    uint32_t lkey, uint64_t raddr, uint32_t rkey, uint64_t compare_add,
	    uint64_t swap)
{
	struct ibv_sge sge = { .addr = addr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = op, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	int ret;

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = compare_add;
		wr.wr.atomic.swap = swap;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	ret = ibv_post_send(qp, &wr, &bad);
	return ret ? verbs_err("ibv_post_send", ret) : 0;
}

long long verbs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct ibv_cq *cq_create(struct ibv_context *ctx, int cqe)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);
	struct ibv_cq *cq;
	int flags, err;

	if (!ch)
		return NULL;
	/* Non-blocking: another thread may take the event poll() saw. */
	flags = fcntl(ch->fd, F_GETFL);
	if (flags < 0 || fcntl(ch->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err = errno;
		goto err_channel;
	}
	cq = ibv_create_cq(ctx, cqe, NULL, ch, 0);
	if (cq)
		return cq;
	err = errno;
err_channel:
	ibv_destroy_comp_channel(ch);
	errno = err;
	return NULL;
}

void cq_destroy(struct ibv_cq *cq)
{
	struct ibv_comp_channel *ch = cq->channel;

	ibv_destroy_cq(cq);
	ibv_destroy_comp_channel(ch);
}

/* One completion of @cq into @wc: 1, 0 if there is none, or -EIO. */
static int cq_poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	int n = ibv_poll_cq(cq, 1, wc);

	return n < 0 ? verbs_err("ibv_poll_cq", EIO) : n;
}

/*
 * Sleep on @cq's channel until a completion event or @deadline_ms; the
 * event, if any, is taken and acknowledged at once (ibv_destroy_cq() waits
 * for every event read to be acknowledged).
 */
static int cq_sleep(struct ibv_cq *cq, long long deadline_ms)
{
	struct pollfd pfd = { .fd = cq->channel->fd, .events = POLLIN };
	long long left = deadline_ms - verbs_now_ms();
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	int ret;

	if (left <= 0)
		return 0;
	ret = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	if (ret < 0 && errno != EINTR)
		return verbs_err("poll on the completion channel", errno);
	if (ret > 0 && !ibv_get_cq_event(cq->channel, &ev_cq, &ev_ctx))
		ibv_ack_cq_events(ev_cq, 1);
	return 0;
}

int cq_wait(struct ibv_cq *cq, struct ibv_wc *wc, long long deadline_ms)
{
	int n;

	for (;;) {
		n = cq_poll_one(cq, wc);
		if (!n) {
			/* Armed, then polled again: a completion in between counts. */
			if (ibv_req_notify_cq(cq, 0))
				return verbs_err("ibv_req_notify_cq", EIO);
			n = cq_poll_one(cq, wc);
			if (!n)
				n = cq_sleep(cq, deadline_ms);
		}
		if (n)
			return n < 0 ? n : 0;
		if (verbs_now_ms() >= deadline_ms)
			return verbs_err("no completion before the deadline", ETIMEDOUT);
	}
}
