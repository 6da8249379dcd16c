/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internal helpers of libp2pmr; not installed. */
#ifndef P2PMR_PRIVATE_H
#define P2PMR_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Record why a call failed for p2pmr_last_error() and return -err, so a
 * failure path reads: return p2pmr_fail(ENODEV, "no PCI device %s", addr);
 */
int p2pmr_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void p2pmr_clear_error(void);

/* Read a whole sysfs attribute (small) into buf, NUL-terminated, no '\n'. */
int p2pmr_sysfs_read(const char *path, char *buf, size_t len);

/*
 * Flush access (Linux 6.2, IB_UVERBS_ACCESS_FLUSH_*): rdma-core 47 names
 * them IBV_ACCESS_FLUSH_GLOBAL and _PERSISTENT, rdma-core 44 not at all.
 */
#define P2PMR_ACCESS_FLUSH_GLOBAL	(1 << 8)
#define P2PMR_ACCESS_FLUSH_PERSISTENT	(1 << 9)

/*
 * After the kernel or the provider refused a dma-buf MR with err: find out
 * which argument was wrong, record the message and return -err.
 */
/* Access bits a dma-buf MR cannot have: 0, or -EINVAL with a message. */
int p2pmr_check_dmabuf_mr_access(int access);
int p2pmr_explain_dmabuf_mr(int err, uint64_t offset, uint64_t length, uint64_t iova,
			    int fd, int access);

#endif /* P2PMR_PRIVATE_H */
