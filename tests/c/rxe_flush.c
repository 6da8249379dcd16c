// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * FLUSH on rxe without ibv_wr_flush() (rxe_flush.h). An rxe send queue is
 * a ring shared with the kernel, laid out by the uAPI (struct
 * rxe_queue_buf of struct rxe_send_wqe, <rdma/rdma_user_rxe.h>): the WQE
 * is written there as rdma-core 47's wr_flush() writes it, the producer
 * index moved on, and the doorbell rung through the provider (an
 * ibv_wr_start()/ibv_wr_complete() batch of no work request, which posts
 * the producer index as it finds it). The provider keeps where it mapped
 * the ring to itself: the ring is the mapping of the uverbs device whose
 * last WQE is the caller's marker.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_rxe.h>

#include "rxe_flush.h"

static struct rxe_send_wqe *ring_slot(struct rxe_queue_buf *q, uint32_t index)
{
	return (void *)(q->data + ((size_t)(index & q->index_mask) << q->log2_elem_size));
}

/* Is [@start, @end) a send queue whose last WQE is @m? */
static bool ring_has_marker(unsigned long start, unsigned long end, const struct rxe_marker *m)
{
	struct rxe_queue_buf *q = (void *)start;
	struct rxe_send_wqe *wqe;

	if (end - start < sizeof(*q) || q->log2_elem_size < 6 || q->log2_elem_size > 16 ||
	    sizeof(*q) + (((size_t)q->index_mask + 1) << q->log2_elem_size) > end - start)
		return false;
	wqe = ring_slot(q, __atomic_load_n(&q->producer_index, __ATOMIC_ACQUIRE) - 1);
	return wqe->wr.wr_id == m->wr_id && wqe->wr.opcode == IB_UVERBS_WR_RDMA_WRITE &&
	       wqe->wr.wr.rdma.remote_addr == m->raddr && wqe->wr.wr.rdma.rkey == m->rkey;
}

static struct rxe_queue_buf *ring_find(struct ibv_qp *qp, const struct rxe_marker *m)
{
	char path[sizeof("/dev/infiniband/") + IBV_SYSFS_NAME_MAX], line[512];
	struct rxe_queue_buf *q = NULL;
	unsigned long start, end;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/dev/infiniband/%s", qp->context->device->dev_name);
	len = strlen(path);
	f = fopen("/proc/self/maps", "re");
	while (f && !q && fgets(line, sizeof(line), f)) {
		char *name = strchr(line, '/');

		if (name && !strncmp(name, path, len) && name[len] == '\n' &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2 &&
		    ring_has_marker(start, end, m))
			q = (void *)start;
	}
	if (f)
		fclose(f);
	return q;
}

int rxe_post_flush(struct ibv_qp *qp, const struct rxe_marker *marker, uint64_t wr_id,
		   uint32_t rkey, uint64_t raddr, uint32_t len, uint8_t type, uint8_t level)
{
	struct rxe_queue_buf *q = ring_find(qp, marker);
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct rxe_send_wqe *wqe;
	uint32_t prod;

	if (!q || !qpx) {
		fprintf(stderr, "rxe FLUSH: no send queue of QP %u holds the marker\n", qp->qp_num);
		return -ENOENT;
	}
	prod = __atomic_load_n(&q->producer_index, __ATOMIC_RELAXED);
	if (((prod + 1) & q->index_mask) == __atomic_load_n(&q->consumer_index, __ATOMIC_ACQUIRE))
		return -ENOSPC;
	wqe = ring_slot(q, prod);
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr.wr_id = wr_id;
	wqe->wr.opcode = IB_UVERBS_WR_FLUSH;
	wqe->wr.send_flags = IBV_SEND_SIGNALED;
	wqe->wr.wr.flush.remote_addr = raddr;
	wqe->wr.wr.flush.rkey = rkey;
	wqe->wr.wr.flush.type = type;
	wqe->wr.wr.flush.level = level;
	wqe->dma.length = len;
	wqe->dma.resid = len;
	wqe->iova = raddr;
	__atomic_store_n(&q->producer_index, (prod + 1) & q->index_mask, __ATOMIC_RELEASE);
	/* The doorbell: the provider posts the producer index as it is now. */
	ibv_wr_start(qpx);
	return -ibv_wr_complete(qpx);
}
