/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internal helpers of libp2pmr; not installed. */
#ifndef P2PMR_PRIVATE_H
#define P2PMR_PRIVATE_H

#include <stdint.h>

/*
 * Every entry point starts with a clean message; a failure path then reads
 * return p2pmr_set_error(ENODEV, "no PCI device %s", addr);
 */
void p2pmr_clear_error(void);

/*
 * Flush access (Linux 6.2, IB_UVERBS_ACCESS_FLUSH_*): rdma-core 47 names
 * them IBV_ACCESS_FLUSH_GLOBAL and _PERSISTENT, rdma-core 44 not at all.
 */
#define P2PMR_ACCESS_FLUSH_GLOBAL	(1 << 8)
#define P2PMR_ACCESS_FLUSH_PERSISTENT	(1 << 9)

/* Access bits a dma-buf MR cannot have: 0, or EINVAL with a message. */
int p2pmr_check_dmabuf_mr_access(int access);
/*
 * After the kernel or the provider refused a dma-buf MR with err: find out
 * which argument was wrong, record the message and return err.
 */
int p2pmr_explain_dmabuf_mr(int err, uint64_t offset, uint64_t length, uint64_t iova,
			    int fd, int access);

#endif /* P2PMR_PRIVATE_H */
