/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The dma-buf test importer (dma_buf_test_importer in debugfs, kernel option
 * DMABUF_TEST_IMPORTER) seen from a test: one session per open file.
 * Functions return 0 or -errno.
 */
#ifndef P2PMR_TEST_IMPORTER_H
#define P2PMR_TEST_IMPORTER_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's test hook header, carried in kernel-headers/test-hooks/ */
#include <dma-buf-test-importer.h>

#define TEST_IMPORTER_DEV "/sys/kernel/debug/dma_buf_test_importer"

int ti_open(void);
/* pci_addr NULL: attach as the importer's own (non-PCI) device. */
int ti_attach(int ti, int dmabuf_fd, const char *pci_addr);
/* ti_attach() with DMA_BUF_TI_ATTACH_* @flags (STATIC, NO_P2P, KEEP_MAPPED) */
int ti_attach_flags(int ti, int dmabuf_fd, const char *pci_addr, uint32_t flags);
int ti_detach(int ti);
int ti_map(int ti, struct dma_buf_ti_seg *segs, uint32_t max_segs, uint32_t *nr_segs);
int ti_unmap(int ti);
int ti_vmap(int ti);
int ti_vunmap(int ti);
int ti_read(int ti, uint64_t offset, void *buf, size_t len);
int ti_write(int ti, uint64_t offset, const void *buf, size_t len);
int ti_status(int ti, struct dma_buf_ti_status *st);

#endif /* P2PMR_TEST_IMPORTER_H */
