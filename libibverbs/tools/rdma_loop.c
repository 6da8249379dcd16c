// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Two RC QPs of one device connected to each other (rdma_loop.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "p2pmr.h"
#include "rc_qp.h"
#include "rdma_loop.h"

/* The device called @name (NULL: the first one) into loop->ctx and ->dev_name. */
static int open_named_device(struct rdma_loop *loop, const char *name)
{
	struct ibv_device **list, *found = NULL;
	int i, n = 0, ret;

	list = ibv_get_device_list(&n);
	for (i = 0; i < n && !found; i++)
		if (!name || !strcmp(ibv_get_device_name(list[i]), name))
			found = list[i];
	if (!n) {
		ret = p2pmr_set_error(ENODEV,
				      "no RDMA device (for soft-RoCE: rdma link add rxe0 type rxe netdev <netdev>)");
	} else if (!found) {
		ret = p2pmr_set_error(ENODEV, "no RDMA device named %s (see ibv_devices)", name);
	} else {
		snprintf(loop->dev_name, sizeof(loop->dev_name), "%s", ibv_get_device_name(found));
		loop->ctx = ibv_open_device(found);
		ret = loop->ctx ? 0 : p2pmr_set_error(errno, "cannot open RDMA device %s",
						      loop->dev_name);
	}
	if (list)
		ibv_free_device_list(list);
	return ret;
}

static struct ibv_qp *create_qp(struct rdma_loop *loop, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
		.cap = {
			.max_send_wr = loop->depth,
			.max_recv_wr = loop->depth,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};
	struct ibv_qp *qp = ibv_create_qp(loop->pd, &attr);

	if (!qp)
		p2pmr_set_error(errno, "cannot create an RC QP on %s", loop->dev_name);
	return qp;
}

/* The port's own address: its LID on InfiniBand, else GID gid_index. */
static int fill_own_address(struct rdma_loop *loop, struct ibv_ah_attr *ah)
{
	struct ibv_port_attr port;
	union ibv_gid gid;
	int ret;

	ret = ibv_query_port(loop->ctx, loop->port, &port);
	if (ret)
		return p2pmr_set_error(ret, "cannot query port %u of %s", loop->port, loop->dev_name);
	if (port.state != IBV_PORT_ACTIVE)
		return p2pmr_set_error(ENETDOWN, "port %u of %s is not active (is its netdev up?)",
				       loop->port, loop->dev_name);
	ah->port_num = loop->port;
	if (port.link_layer == IBV_LINK_LAYER_INFINIBAND && port.lid) {
		ah->dlid = port.lid;
		return port.active_mtu;
	}
	ret = ibv_query_gid(loop->ctx, loop->port, loop->gid_index, &gid);
	if (ret || !gid.global.interface_id)
		return p2pmr_set_error(ret ? ret : EINVAL, "%s port %u has no GID at index %d (see ibv_devinfo -v)",
				       loop->dev_name, loop->port, loop->gid_index);
	ah->is_global = 1;
	ah->grh.dgid = gid;
	ah->grh.sgid_index = loop->gid_index;
	ah->grh.hop_limit = 1;
	return port.active_mtu;
}

static int qp_connect(struct rdma_loop *loop, struct ibv_qp *qp, uint32_t peer_qpn)
{
	struct ibv_ah_attr ah = {};
	const char *failed;
	int mtu, ret;

	mtu = fill_own_address(loop, &ah);
	if (mtu < 0)
		return mtu;
	ret = rc_qp_connect(qp, &ah, peer_qpn, mtu, &failed);
	if (ret)
		return p2pmr_set_error(ret, "QP %u to %s failed%s", qp->qp_num, failed,
				       ah.is_global ? " (GID index of the right type?)" : "");
	return 0;
}

static int create_side(struct rdma_loop *loop, enum loop_side side)
{
	loop->cq[side] = ibv_create_cq(loop->ctx, 2 * loop->depth, NULL, NULL, 0);
	if (!loop->cq[side])
		return p2pmr_set_error(errno, "cannot create a CQ on %s", loop->dev_name);
	loop->qp[side] = create_qp(loop, loop->cq[side]);
	return loop->qp[side] ? 0 : errno;
}

int loop_open(struct rdma_loop *loop, const struct rdma_opts *rdma, unsigned int depth)
{
	int ret;

	memset(loop, 0, sizeof(*loop));
	loop->port = rdma->ib_port;
	loop->gid_index = rdma->gid_index;
	loop->depth = depth;
	ret = open_named_device(loop, rdma->ib_dev);
	if (ret)
		return ret;
	loop->pd = ibv_alloc_pd(loop->ctx);
	if (!loop->pd) {
		ret = p2pmr_set_error(errno, "cannot allocate a PD on %s", loop->dev_name);
		goto fail;
	}
	ret = create_side(loop, LOOP_REQUESTER);
	if (!ret)
		ret = create_side(loop, LOOP_RESPONDER);
	if (!ret)
		ret = qp_connect(loop, loop->qp[LOOP_REQUESTER], loop->qp[LOOP_RESPONDER]->qp_num);
	if (!ret)
		ret = qp_connect(loop, loop->qp[LOOP_RESPONDER], loop->qp[LOOP_REQUESTER]->qp_num);
	if (!ret)
		return 0;
fail:
	loop_close(loop);
	return ret;
}

int loop_reconnect(struct rdma_loop *loop)
{
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc[16];
	int side, ret;

	for (side = 0; side < LOOP_SIDES; side++) {
		ret = ibv_modify_qp(loop->qp[side], &reset, IBV_QP_STATE);
		if (ret)
			return p2pmr_set_error(ret, "cannot reset QP %u", loop->qp[side]->qp_num);
		while (ibv_poll_cq(loop->cq[side], 16, wc) > 0)
			;	/* flushed work requests */
	}
	ret = qp_connect(loop, loop->qp[LOOP_REQUESTER], loop->qp[LOOP_RESPONDER]->qp_num);
	return ret ? ret : qp_connect(loop, loop->qp[LOOP_RESPONDER],
				      loop->qp[LOOP_REQUESTER]->qp_num);
}

/* The PD stays while other MRs may hold it: the caller frees those first. */
void loop_close(struct rdma_loop *loop)
{
	int side;

	for (side = 0; side < LOOP_SIDES; side++) {
		if (loop->qp[side])
			ibv_destroy_qp(loop->qp[side]);
		if (loop->cq[side])
			ibv_destroy_cq(loop->cq[side]);
	}
	if (loop->pd)
		ibv_dealloc_pd(loop->pd);
	if (loop->ctx)
		ibv_close_device(loop->ctx);
	memset(loop, 0, sizeof(*loop));
}

int loop_post_send(struct rdma_loop *loop, enum ibv_wr_opcode opcode,
		   const struct ibv_sge *local, uint64_t remote_addr, uint32_t rkey)
{
	struct ibv_sge sge = *local;
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = opcode,
		.wr.rdma = { .remote_addr = remote_addr, .rkey = rkey },
	}, *bad;
	int ret = ibv_post_send(loop->qp[LOOP_REQUESTER], &wr, &bad);

	return ret ? p2pmr_set_error(ret, "posting a send work request failed") : 0;
}

int loop_post_recv(struct rdma_loop *loop, const struct ibv_sge *sge)
{
	struct ibv_sge copy = *sge;
	struct ibv_recv_wr wr = { .sg_list = &copy, .num_sge = 1 }, *bad;
	int ret = ibv_post_recv(loop->qp[LOOP_RESPONDER], &wr, &bad);

	return ret ? p2pmr_set_error(ret, "posting a receive work request failed") : 0;
}

static int reap_cq(struct ibv_cq *cq, struct loop_counts *counts)
{
	struct ibv_wc wc[16];
	int i, n;

	n = ibv_poll_cq(cq, 16, wc);
	if (n < 0)
		return p2pmr_set_error(EIO, "polling a CQ failed");
	for (i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS)
			return p2pmr_set_error(EIO, "work completion error: %s (opcode %d, vendor error 0x%x)",
					       ibv_wc_status_str(wc[i].status), wc[i].opcode,
					       wc[i].vendor_err);
		if (wc[i].opcode & IBV_WC_RECV)
			counts->recvs++;
		else
			counts->sends++;
	}
	return 0;
}

int loop_reap(struct rdma_loop *loop, struct loop_counts *counts)
{
	int ret = reap_cq(loop->cq[LOOP_REQUESTER], counts);

	return ret ? ret : reap_cq(loop->cq[LOOP_RESPONDER], counts);
}

double loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t loop_done(const struct loop_counts *c, bool recvs)
{
	return recvs && c->recvs < c->sends ? c->recvs : c->sends;
}

int loop_run(struct rdma_loop *loop, uint64_t n, unsigned int window, bool recvs,
	     loop_post_fn post, void *arg, double *seconds)
{
	struct loop_counts counts = { 0 };
	uint64_t posted = 0, done = 0;
	double start = loop_now(), last = start;
	int ret;

	while (done < n) {
		while (posted < n && posted - done < window) {
			ret = post(arg, posted);
			if (ret)
				return ret;
			posted++;
		}
		ret = loop_reap(loop, &counts);
		if (ret)
			return ret;
		if (loop_done(&counts, recvs) != done) {
			done = loop_done(&counts, recvs);
			last = loop_now();
		} else if (loop_now() - last > LOOP_STALL_SECONDS) {
			return p2pmr_set_error(ETIMEDOUT, "no completion for %.0f s", LOOP_STALL_SECONDS);
		}
	}
	*seconds = loop_now() - start;
	return 0;
}
