/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A small userspace NVMe driver over VFIO cdev + iommufd (libp2pmr), for
 * moving bytes with the controller's own DMA: `p2pmr dma-bench` and the
 * iommufd-dma guest suite (tests/c/nvme_dma_test.c).
 *
 * It resets and enables the controller, keeps an admin queue pair and one
 * I/O queue pair in host memory mapped into the caller's IOAS (IOVAs the
 * kernel picks), polls completions (no interrupts), and reads and writes
 * namespace 1 with PRP1/PRP2 and PRP lists (chained when one page of
 * entries is not enough). The data buffer of a command is an IOVA of the
 * same IOAS: host memory (p2pmr_ioas_map()) or another device's BAR
 * (p2pmr_ioas_map_file() of its dma-buf).
 *
 * Functions return 0 or a positive errno value with the reason in
 * p2pmr_last_error(), as libp2pmr does; a command the controller completes
 * with an error status is EIO, its status in *statusp.
 */
#ifndef P2PMR_TOOL_NVME_H
#define P2PMR_TOOL_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2pmr.h"

#define NVME_PAGE		4096u
#define NVME_QDEPTH		32u	/* entries of each queue */
/*
 * Pages of PRP list per command slot: 2 chained pages hold 511 + 512
 * entries, which with PRP1 make 1024 pages: 4 MiB per command.
 */
#define NVME_PRP_PAGES		2u
#define NVME_MAX_TRANSFER	((uint64_t)4 << 20)

/* Status field of a completion (DW3 bits 17..31): SCT << 8 | SC. */
#define NVME_SCT(status)	(((status) >> 8) & 0x7)
#define NVME_SC(status)		((status) & 0xff)

struct nvme_queue {
	void *va;			/* host memory of the entries */
	uint64_t iova;
	uint16_t qid;
	uint16_t head, tail;
	uint8_t phase;			/* CQ: the phase bit of new entries */
};

struct nvme_ctrl {
	struct p2pmr_device *dev;
	struct p2pmr_iommufd *ictx;
	uint32_t ioas_id;
	volatile uint8_t *bar;		/* BAR0 */
	size_t bar_len;
	unsigned int db_stride;		/* bytes between doorbells */
	unsigned int timeout_ms;	/* for each command and the reset */

	/* Host memory the controller reads and writes: queues, PRP lists. */
	void *mem;
	size_t mem_len;
	uint64_t mem_iova;

	struct nvme_queue asq, acq, iosq, iocq;
	uint64_t *prp[NVME_QDEPTH];	/* each command slot's PRP list pages */
	uint64_t prp_iova[NVME_QDEPTH];
	bool busy[NVME_QDEPTH];		/* slot (= command id) in flight */
	uint16_t status[NVME_QDEPTH];	/* of a completed, unreaped slot */
	bool done[NVME_QDEPTH];

	/* From Identify. */
	char serial[21];
	char model[41];
	uint64_t max_transfer;		/* bytes: MDTS and NVME_MAX_TRANSFER */
	uint32_t nsid;			/* 1 */
	uint64_t ns_blocks;
	uint32_t lba_size;
};

/*
 * Open the NVMe controller @pci (bound to vfio-pci), bound to @ictx and
 * attached to @ioas_id; reset, enable, identify, create the I/O queues.
 */
int nvme_open(struct nvme_ctrl *c, const char *pci, struct p2pmr_iommufd *ictx,
	      uint32_t ioas_id, unsigned int timeout_ms);
/* Disable the controller, unmap and free; @c may be half opened. */
void nvme_close(struct nvme_ctrl *c);

/*
 * READ (@write false: namespace to memory) or WRITE (memory to namespace)
 * of @len bytes (a multiple of the LBA size, at most max_transfer) at byte
 * @offset of the namespace (LBA aligned), the memory side at @iova
 * (4 KiB aligned) of the IOAS. Submit only: the command id in *cidp.
 */
int nvme_submit_rw(struct nvme_ctrl *c, bool write, uint64_t offset, uint64_t iova,
		   uint64_t len, uint16_t *cidp);
/* Wait for command @cid: 0, EIO with *statusp (the error status), ETIMEDOUT. */
int nvme_wait(struct nvme_ctrl *c, uint16_t cid, uint16_t *statusp);
/* Submit and wait. */
int nvme_rw(struct nvme_ctrl *c, bool write, uint64_t offset, uint64_t iova, uint64_t len,
	    uint16_t *statusp);
/* "Data Transfer Error (SCT 0 SC 0x4)": for messages. */
const char *nvme_status_str(uint16_t status, char *buf, size_t len);

#endif /* P2PMR_TOOL_NVME_H */
