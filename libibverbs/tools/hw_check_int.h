/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The parts of p2pmr hw-check that its files share: the window's slots, the
 * run's state, the verdicts and the helpers the checks build on
 * (hw_check.c), and the revocation checks (hw_check_revoke.c).
 */
#ifndef P2PMR_TOOL_HW_CHECK_INT_H
#define P2PMR_TOOL_HW_CHECK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "rdma_loop.h"
#include "rdma_opts.h"

#define KIB		((size_t)1 << 10)
#define SLOT		(64 * KIB)
/* The slots of the window, each SLOT bytes, one use each. */
enum {
	SLOT_PROVIDER,		/* the provider's MR */
	SLOT_KERNEL,		/* the kernel method's MR */
	SLOT_WRITE,		/* 4 slots: 256 KiB by RDMA WRITE */
	SLOT_READ = SLOT_WRITE + 4,	/* 2 slots: 128 KiB by RDMA READ */
	SLOT_SEND_IN = SLOT_READ + 2,
	SLOT_SEND_OUT,
	SLOT_ATOMIC,
	SLOT_REVOKE_DECODE,
	SLOT_REVOKE_RESET,
	SLOTS
};
#define HWC_WINDOW	((uint64_t)1 << 20)	/* SLOTS * SLOT fit */
#define HOST_LEN	(256 * KIB)
#define MSG		SLOT
#define SEND_LEN	(16 * KIB)
#define DEPTH		4
#define WAIT_MS		10000
#define IOVA_BASE	0x7f0000000000ULL
#define ACCESS_ALL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define DETAIL		512

/*
 * How the driver imports a dma-buf, which says what a revoke looks like
 * (docs/rdma-importers.md, "Per importer").
 */
enum import_mode {
	/* rxe: CPU access. Remote access error; the same MR works after restore. */
	IMPORT_CPU,
	/* mlx5 with ODP: dynamic. Error completions; the same MR works after restore. */
	IMPORT_DYNAMIC,
	/* mlx5 without ODP: pinned revocable. Error completions; fenced until re-registered. */
	IMPORT_PINNED,
	/* Another driver: any error completion; say what happens after restore. */
	IMPORT_UNKNOWN,
};

enum verdict { PASS, FAIL, SKIP };

struct hwc_opts {
	const char *pci;
	int bar;			/* -1: not given */
	uint64_t offset;		/* of the window in the BAR */
	struct rdma_opts rdma;
	unsigned int seconds;		/* traffic around each revocation, at most */
};

struct hwc {
	struct hwc_opts o;
	struct p2pmr_device *dev;
	struct p2pmr_bar_info info;
	volatile uint8_t *map;		/* the BAR through VFIO mmap */
	size_t map_len;
	int fd;				/* the window's dma-buf, or -1 */
	struct rdma_loop loop;
	bool loop_ok;
	uint64_t *host;			/* HOST_LEN bytes of host memory */
	struct ibv_mr *host_mr;
	struct p2pmr_mr *data_mr;	/* the whole window, for the data checks */
	enum import_mode mode;
	char driver[64];
	unsigned int failed;
};

enum verdict verdict(struct hwc *h, const char *name, enum verdict v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Word @i of @slot in the BAR, through the VFIO mmap, and its BAR offset. */
volatile uint64_t *bar_word(struct hwc *h, unsigned int slot, size_t i);
uint64_t bar_off(struct hwc *h, unsigned int slot, size_t i);
long long now_ms(void);
/* One RDMA op through the loop: 0, a failed completion's status, or -errno. */
int run_rdma(struct hwc *h, enum ibv_wr_opcode op, void *local, uint32_t len,
	     uint32_t lkey, uint64_t raddr, uint32_t rkey);
/* An RDMA WRITE of a pattern into @slot, checked through the mmap; 0 or -1 with @why. */
int write_and_verify(struct hwc *h, unsigned int slot, uint64_t iova, uint32_t rkey,
		     uint64_t seed, char *why, size_t len);
/* An MR over @n slots from @slot, or NULL. */
struct p2pmr_mr *reg_slots(struct hwc *h, unsigned int slot, unsigned int n);

/* hw_check_revoke.c */
enum verdict check_revoke_decode(struct hwc *h);
enum verdict check_revoke_reset(struct hwc *h);

#endif /* P2PMR_TOOL_HW_CHECK_INT_H */
