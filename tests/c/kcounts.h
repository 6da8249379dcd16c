/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What the kernel holds, for tests that must leave nothing behind: live
 * dma-bufs and memory regions. Each returns a count, or -1 if it cannot
 * be known.
 */
#ifndef P2PMR_TEST_KCOUNTS_H
#define P2PMR_TEST_KCOUNTS_H

/* Every dma-buf of the system: "Total N objects" of debugfs dma_buf/bufinfo. */
int count_dmabufs(void);
/* The dma-bufs this process has fds of: "dmabuf:" links in /proc/self/fd. */
int count_dmabuf_fds(void);
/* Every fd of this process. */
int count_fds(void);
/* The MRs of RDMA device @ibdev: "mr N" of `rdma resource show`. */
int count_mrs(const char *ibdev);

#endif /* P2PMR_TEST_KCOUNTS_H */
