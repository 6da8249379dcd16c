// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A small userspace NVMe driver over VFIO cdev + iommufd (see nvme.h):
 * enough of NVMe 1.4 to read and write namespace 1 by DMA to IOVAs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "nvme.h"

/* Controller registers (BAR0). */
#define REG_CAP		0x00
#define REG_CC		0x14
#define REG_CSTS	0x1c
#define REG_AQA		0x24
#define REG_ASQ		0x28
#define REG_ACQ		0x30
#define REG_DOORBELLS	0x1000

#define CC_EN		(1u << 0)
#define CC_IOSQES	(6u << 16)	/* 64-byte SQ entries */
#define CC_IOCQES	(4u << 20)	/* 16-byte CQ entries */
#define CSTS_RDY	(1u << 0)
#define CSTS_CFS	(1u << 1)

/* Opcodes. */
#define ADMIN_CREATE_SQ	0x01
#define ADMIN_CREATE_CQ	0x05
#define ADMIN_IDENTIFY	0x06
#define IO_WRITE	0x01
#define IO_READ		0x02

/* Command ids of I/O commands: 0 .. NVME_QDEPTH - 2, so the SQ is never full. */
#define IO_SLOTS	(NVME_QDEPTH - 1)

struct sqe {
	uint32_t cdw0;		/* opcode | cid << 16 */
	uint32_t nsid;
	uint64_t rsvd;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct cqe {
	uint32_t result;
	uint32_t rsvd;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status;	/* phase bit 0, status 1..15 */
};

_Static_assert(sizeof(struct sqe) == 64 && sizeof(struct cqe) == 16, "NVMe entry sizes");

/* Pages of the driver's host memory: the queues, Identify data, PRP lists. */
enum { PG_ASQ, PG_ACQ, PG_IOSQ, PG_IOCQ, PG_IDENTIFY, PG_PRP, PG_COUNT = PG_PRP + IO_SLOTS * NVME_PRP_PAGES };

static uint32_t rd32(struct nvme_ctrl *c, unsigned int reg)
{
	return *(volatile uint32_t *)(c->bar + reg);
}

static void wr32(struct nvme_ctrl *c, unsigned int reg, uint32_t v)
{
	*(volatile uint32_t *)(c->bar + reg) = v;
}

static void wr64(struct nvme_ctrl *c, unsigned int reg, uint64_t v)
{
	wr32(c, reg, (uint32_t)v);
	wr32(c, reg + 4, v >> 32);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *nvme_status_str(uint16_t status, char *buf, size_t len)
{
	static const char *const generic[] = {
		[0x00] = "Successful Completion",
		[0x01] = "Invalid Command Opcode",
		[0x02] = "Invalid Field in Command",
		[0x04] = "Data Transfer Error",
		[0x06] = "Internal Error",
		[0x0b] = "Invalid Namespace or Format",
		[0x13] = "PRP Offset Invalid",
		[0x80] = "LBA Out of Range",
	};
	const char *name = NULL;

	if (NVME_SCT(status) == 0 && NVME_SC(status) < sizeof(generic) / sizeof(generic[0]))
		name = generic[NVME_SC(status)];
	snprintf(buf, len, "%s (SCT %u SC 0x%x)", name ? name : "status",
		 NVME_SCT(status), NVME_SC(status));
	return buf;
}

/* Memory decode and bus mastering on, through the VFIO config region. */
static int enable_bus_master(struct nvme_ctrl *c)
{
	struct vfio_region_info region = {
		.argsz = sizeof(region),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	int fd = p2pmr_device_fd(c->dev);
	uint16_t cmd;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &region))
		return p2pmr_set_error(errno, "config region info of %s", p2pmr_device_pci_addr(c->dev));
	if (pread(fd, &cmd, 2, region.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(EIO, "reading PCI_COMMAND of %s", p2pmr_device_pci_addr(c->dev));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(fd, &cmd, 2, region.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(EIO, "writing PCI_COMMAND of %s", p2pmr_device_pci_addr(c->dev));
	return 0;
}

static int wait_ready(struct nvme_ctrl *c, bool ready)
{
	uint64_t end = now_ms() + c->timeout_ms;
	uint32_t csts;

	for (;;) {
		csts = rd32(c, REG_CSTS);
		if (csts == 0xffffffff)
			return p2pmr_set_error(ENODEV, "NVMe %s: registers read all ones (memory decode off?)",
					       p2pmr_device_pci_addr(c->dev));
		if (ready && (csts & CSTS_CFS))
			return p2pmr_set_error(EIO, "NVMe %s: controller fatal status",
					       p2pmr_device_pci_addr(c->dev));
		if (!!(csts & CSTS_RDY) == ready)
			return 0;
		if (now_ms() > end)
			return p2pmr_set_error(ETIMEDOUT, "NVMe %s: CSTS.RDY not %d after %u ms",
					       p2pmr_device_pci_addr(c->dev), ready, c->timeout_ms);
		usleep(1000);
	}
}

static volatile uint32_t *doorbell(struct nvme_ctrl *c, uint16_t qid, bool cq)
{
	return (volatile uint32_t *)(c->bar + REG_DOORBELLS + (2 * qid + cq) * c->db_stride);
}

static void submit(struct nvme_ctrl *c, struct nvme_queue *sq, const struct sqe *cmd)
{
	struct sqe *slot = (struct sqe *)sq->va + sq->tail;

	*slot = *cmd;
	sq->tail = (sq->tail + 1) % NVME_QDEPTH;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* the entry before the doorbell */
	*doorbell(c, sq->qid, false) = sq->tail;
}

/*
 * Take every new completion of @cq: mark its command done with its
 * status. For the admin queue, the one command in flight.
 */
static void reap(struct nvme_ctrl *c, struct nvme_queue *cq)
{
	volatile struct cqe *e;
	bool any = false;

	for (;;) {
		e = (volatile struct cqe *)cq->va + cq->head;
		if ((e->status & 1) != cq->phase)
			break;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (e->cid < NVME_QDEPTH) {
			c->status[e->cid] = e->status >> 1;
			c->done[e->cid] = true;
		}
		if (++cq->head == NVME_QDEPTH) {
			cq->head = 0;
			cq->phase ^= 1;
		}
		any = true;
	}
	if (any)
		*doorbell(c, cq->qid, true) = cq->head;
}

static int wait_cid(struct nvme_ctrl *c, struct nvme_queue *cq, uint16_t cid,
		    uint16_t *statusp, const char *what)
{
	uint64_t end = now_ms() + c->timeout_ms;
	char buf[64];
	unsigned int spins = 0;

	while (!c->done[cid]) {
		reap(c, cq);
		if (c->done[cid])
			break;
		if (now_ms() > end)
			return p2pmr_set_error(ETIMEDOUT, "NVMe %s: %s (command %u) did not complete in %u ms",
					       p2pmr_device_pci_addr(c->dev), what, cid, c->timeout_ms);
		if (++spins > 1000)
			usleep(50);
	}
	c->done[cid] = false;
	if (statusp)
		*statusp = c->status[cid];
	if (c->status[cid])
		return p2pmr_set_error(EIO, "NVMe %s: %s failed: %s", p2pmr_device_pci_addr(c->dev),
				       what, nvme_status_str(c->status[cid], buf, sizeof(buf)));
	return 0;
}

/* One admin command, synchronously (command id NVME_QDEPTH - 1). */
static int admin(struct nvme_ctrl *c, struct sqe *cmd, const char *what)
{
	uint16_t cid = NVME_QDEPTH - 1;

	cmd->cdw0 |= (uint32_t)cid << 16;
	c->done[cid] = false;
	submit(c, &c->asq, cmd);
	return wait_cid(c, &c->acq, cid, NULL, what);
}

static void *page_va(struct nvme_ctrl *c, unsigned int page)
{
	return (uint8_t *)c->mem + (size_t)page * NVME_PAGE;
}

static uint64_t page_iova(struct nvme_ctrl *c, unsigned int page)
{
	return c->mem_iova + (uint64_t)page * NVME_PAGE;
}

static void copy_trimmed(char *dst, const uint8_t *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
	while (len && (dst[len - 1] == ' ' || !dst[len - 1]))
		dst[--len] = '\0';
}

static int identify(struct nvme_ctrl *c, uint32_t cap_mpsmin)
{
	const uint8_t *id = page_va(c, PG_IDENTIFY);
	struct sqe cmd = { .cdw0 = ADMIN_IDENTIFY, .prp1 = page_iova(c, PG_IDENTIFY),
			   .cdw10 = 1 };
	unsigned int flbas, lbads;
	int ret;

	ret = admin(c, &cmd, "Identify Controller");
	if (ret)
		return ret;
	copy_trimmed(c->serial, id + 4, 20);
	copy_trimmed(c->model, id + 24, 40);
	c->max_transfer = NVME_MAX_TRANSFER;
	if (id[77] && ((uint64_t)NVME_PAGE << cap_mpsmin << id[77]) < c->max_transfer)
		c->max_transfer = (uint64_t)NVME_PAGE << cap_mpsmin << id[77];

	c->nsid = 1;
	cmd = (struct sqe){ .cdw0 = ADMIN_IDENTIFY, .nsid = c->nsid,
			    .prp1 = page_iova(c, PG_IDENTIFY), .cdw10 = 0 };
	ret = admin(c, &cmd, "Identify Namespace 1");
	if (ret)
		return ret;
	memcpy(&c->ns_blocks, id, 8);
	flbas = id[26] & 0xf;
	lbads = id[128 + 4 * flbas + 2];
	if (!c->ns_blocks || lbads < 9 || lbads > 12)
		return p2pmr_set_error(ENODEV, "NVMe %s: namespace 1 is absent or has LBA size 2^%u",
				       p2pmr_device_pci_addr(c->dev), lbads);
	c->lba_size = 1u << lbads;
	return 0;
}

static int create_io_queues(struct nvme_ctrl *c)
{
	struct sqe cmd = {
		.cdw0 = ADMIN_CREATE_CQ,
		.prp1 = c->iocq.iova,
		.cdw10 = (NVME_QDEPTH - 1) << 16 | 1,
		.cdw11 = 1,		/* physically contiguous, no interrupts */
	};
	int ret;

	ret = admin(c, &cmd, "Create I/O Completion Queue 1");
	if (ret)
		return ret;
	cmd = (struct sqe){
		.cdw0 = ADMIN_CREATE_SQ,
		.prp1 = c->iosq.iova,
		.cdw10 = (NVME_QDEPTH - 1) << 16 | 1,
		.cdw11 = 1u << 16 | 1,	/* CQ 1, physically contiguous */
	};
	return admin(c, &cmd, "Create I/O Submission Queue 1");
}

static void queue_init(struct nvme_ctrl *c, struct nvme_queue *q, unsigned int page,
		       uint16_t qid)
{
	*q = (struct nvme_queue){ .va = page_va(c, page), .iova = page_iova(c, page),
				  .qid = qid, .phase = 1 };
}

int nvme_open(struct nvme_ctrl *c, const char *pci, struct p2pmr_iommufd *ictx,
	      uint32_t ioas_id, unsigned int timeout_ms)
{
	void *bar;
	uint64_t cap;
	unsigned int i, to_ms;
	int ret;

	memset(c, 0, sizeof(*c));
	c->ictx = ictx;
	c->ioas_id = ioas_id;
	c->timeout_ms = timeout_ms;
	c->mem = MAP_FAILED;

	ret = p2pmr_device_bind_iommufd(pci, ictx, &c->dev);
	if (!ret)
		ret = p2pmr_device_attach_ioas(c->dev, ioas_id);
	if (!ret)
		ret = p2pmr_bar_mmap(c->dev, 0, &bar, &c->bar_len);
	if (ret)
		return ret;
	c->bar = bar;
	ret = enable_bus_master(c);
	if (ret)
		return ret;

	c->mem_len = (size_t)PG_COUNT * NVME_PAGE;
	c->mem = mmap(NULL, c->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->mem == MAP_FAILED)
		return p2pmr_set_error(errno, "allocating %zu bytes for NVMe queues", c->mem_len);
	ret = p2pmr_ioas_map(ictx, ioas_id, c->mem, c->mem_len,
			     P2PMR_IOAS_MAP_READABLE | P2PMR_IOAS_MAP_WRITEABLE, &c->mem_iova);
	if (ret) {
		munmap(c->mem, c->mem_len);
		c->mem = MAP_FAILED;
		return ret;
	}
	queue_init(c, &c->asq, PG_ASQ, 0);
	queue_init(c, &c->acq, PG_ACQ, 0);
	queue_init(c, &c->iosq, PG_IOSQ, 1);
	queue_init(c, &c->iocq, PG_IOCQ, 1);
	for (i = 0; i < IO_SLOTS; i++) {
		c->prp[i] = page_va(c, PG_PRP + i * NVME_PRP_PAGES);
		c->prp_iova[i] = page_iova(c, PG_PRP + i * NVME_PRP_PAGES);
	}

	cap = rd32(c, REG_CAP) | (uint64_t)rd32(c, REG_CAP + 4) << 32;
	c->db_stride = 4u << ((cap >> 32) & 0xf);
	to_ms = ((cap >> 24) & 0xff) * 500;	/* CAP.TO, in 500 ms units */
	if (to_ms > c->timeout_ms)
		c->timeout_ms = to_ms;
	if ((cap >> 48) & 0xf)
		return p2pmr_set_error(EOPNOTSUPP, "NVMe %s: smallest page size 2^%u, not 4 KiB",
				       pci, 12 + (unsigned int)((cap >> 48) & 0xf));

	/* Reset, then enable with the admin queues. */
	wr32(c, REG_CC, 0);
	ret = wait_ready(c, false);
	if (ret)
		return ret;
	wr32(c, REG_AQA, (NVME_QDEPTH - 1) << 16 | (NVME_QDEPTH - 1));
	wr64(c, REG_ASQ, c->asq.iova);
	wr64(c, REG_ACQ, c->acq.iova);
	wr32(c, REG_CC, CC_EN | CC_IOSQES | CC_IOCQES);
	ret = wait_ready(c, true);
	if (!ret)
		ret = identify(c, (cap >> 48) & 0xf);
	if (!ret)
		ret = create_io_queues(c);
	c->timeout_ms = timeout_ms;
	return ret;
}

void nvme_close(struct nvme_ctrl *c)
{
	/* Disable first: no DMA after this, whatever is still queued. */
	if (c->bar) {
		wr32(c, REG_CC, 0);
		wait_ready(c, false);
		p2pmr_bar_munmap((void *)c->bar, c->bar_len);
		c->bar = NULL;
	}
	p2pmr_device_close(c->dev);
	c->dev = NULL;
	if (c->mem != MAP_FAILED && c->mem) {
		if (c->mem_iova)
			p2pmr_ioas_unmap(c->ictx, c->ioas_id, c->mem_iova, c->mem_len);
		munmap(c->mem, c->mem_len);
		c->mem = MAP_FAILED;
	}
}

/*
 * PRP1, PRP2 and the list pages of slot @cid for @len bytes at @iova (page
 * aligned): PRP1 the first page; PRP2 the second page, or the list of the
 * others, whose last entry points to the next list page when they do not
 * fit in one.
 */
static void build_prps(struct nvme_ctrl *c, uint16_t cid, uint64_t iova, uint64_t len,
		       struct sqe *cmd)
{
	uint64_t pages = (len + NVME_PAGE - 1) / NVME_PAGE, p;
	uint64_t *list = c->prp[cid];
	uint64_t list_iova = c->prp_iova[cid];
	unsigned int n = 0;

	cmd->prp1 = iova;
	if (pages == 1)
		return;
	if (pages == 2) {
		cmd->prp2 = iova + NVME_PAGE;
		return;
	}
	cmd->prp2 = list_iova;
	for (p = 1; p < pages; p++) {
		if (n == NVME_PAGE / 8 - 1 && pages - p > 1) {
			list[n] = list_iova + NVME_PAGE;
			list += NVME_PAGE / 8;
			list_iova += NVME_PAGE;
			n = 0;
		}
		list[n++] = iova + p * NVME_PAGE;
	}
}

int nvme_submit_rw(struct nvme_ctrl *c, bool write, uint64_t offset, uint64_t iova,
		   uint64_t len, uint16_t *cidp)
{
	uint64_t slba, nlb;
	struct sqe cmd;
	uint16_t cid;

	if (!len || len % c->lba_size || offset % c->lba_size)
		return p2pmr_set_error(EINVAL,
				       "NVMe: offset 0x%" PRIx64 " and length 0x%" PRIx64 " must be multiples of the LBA size %u, length not 0",
				       offset, len, c->lba_size);
	if (len > c->max_transfer)
		return p2pmr_set_error(EINVAL, "NVMe: 0x%" PRIx64 " bytes is more than one command moves (0x%" PRIx64 ")",
				       len, c->max_transfer);
	if (iova % NVME_PAGE)
		return p2pmr_set_error(EINVAL, "NVMe: IOVA 0x%" PRIx64 " is not 4 KiB aligned", iova);
	slba = offset / c->lba_size;
	nlb = len / c->lba_size;
	if (slba + nlb > c->ns_blocks)
		return p2pmr_set_error(EINVAL, "NVMe: [0x%" PRIx64 ", +0x%" PRIx64 ") is past the namespace's end (0x%" PRIx64 " bytes)",
				       offset, len, c->ns_blocks * c->lba_size);
	for (cid = 0; cid < IO_SLOTS && (c->busy[cid] || c->done[cid]); cid++)
		;
	if (cid == IO_SLOTS)
		return p2pmr_set_error(EBUSY, "NVMe: %u commands in flight already", IO_SLOTS);

	cmd = (struct sqe){
		.cdw0 = (write ? IO_WRITE : IO_READ) | (uint32_t)cid << 16,
		.nsid = c->nsid,
		.cdw10 = (uint32_t)slba,
		.cdw11 = slba >> 32,
		.cdw12 = nlb - 1,
	};
	build_prps(c, cid, iova, len, &cmd);
	c->busy[cid] = true;
	submit(c, &c->iosq, &cmd);
	*cidp = cid;
	return 0;
}

int nvme_wait(struct nvme_ctrl *c, uint16_t cid, uint16_t *statusp)
{
	int ret;

	if (cid >= IO_SLOTS || !c->busy[cid])
		return p2pmr_set_error(EINVAL, "NVMe: no command %u in flight", cid);
	ret = wait_cid(c, &c->iocq, cid, statusp, "READ/WRITE");
	if (ret != ETIMEDOUT)
		c->busy[cid] = false;
	return ret;
}

int nvme_rw(struct nvme_ctrl *c, bool write, uint64_t offset, uint64_t iova, uint64_t len,
	    uint16_t *statusp)
{
	uint16_t cid = 0;
	int ret;

	ret = nvme_submit_rw(c, write, offset, iova, len, &cid);
	if (ret)
		return ret;
	return nvme_wait(c, cid, statusp);
}
