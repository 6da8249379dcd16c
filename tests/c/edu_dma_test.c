// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * edu-dma-test: the DMA addresses the VFIO exporter hands to an in-kernel
 * importer, used by a device's own DMA engine.
 *
 * The dma-buf test importer attaches to a BAR range's dma-buf as QEMU's edu
 * device (1234:11e8, which has a DMA engine and no driver in the guest)
 * and maps it; the edu then copies 2 KiB from one place of the range to
 * another through its internal buffer, reading the BAR at one DMA address
 * and writing it at another: the bytes must appear at the second place in
 * the BAR's host file (the edu's buffer cannot be read or written from the
 * CPU, only by its DMA). The address is what an RDMA NIC
 * would be given (mlx5's path): an IOVA of the edu's IOMMU domain when
 * the peers meet at the host bridge (--expect iommu), the BAR's PCI bus
 * address when they are below one switch (--expect bus). Then a revoke
 * (memory decode off) takes the mapping away: the importer is told and
 * mapping again fails with ENODEV.
 *
 * usage: edu-dma-test --edu PCI --bar-pci PCI --bar N --bar-file PATH
 *                     --expect iommu|bus
 * Exit status 0 when every check held, 1 when one did not, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2pmr.h"
#include "check.h"
#include "pattern.h"
#include "test_importer.h"
#include "vfio_ctl.h"

/* The exported range: 64 KiB at 12 MiB of the BAR. */
#define RANGE_OFFSET	(12u << 20)
#define RANGE_LENGTH	(64u << 10)

/* QEMU's edu (docs/specs/edu.rst): BAR0 registers and its DMA buffer. */
#define EDU_ID		0x00
#define EDU_ID_VALUE	0x010000edU
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	0x1
#define EDU_CMD_TO_RAM	0x2	/* from the edu's buffer to the address */
#define EDU_BUF		0x40000	/* in the edu's DMA address space */
/*
 * The edu's buffer is 4 KiB, but QEMU 7.2's range check refuses a DMA
 * that ends at its end (and stops QEMU with a "hardware error"): 2 KiB.
 */
#define EDU_XFER	2048
#define EDU_BAR0_SIZE	(1u << 20)

struct opts {
	const char *edu, *bar_pci, *bar_file, *expect;
	int bar;
};

static int sysfs_path(char *path, size_t len, const char *pci, const char *file)
{
	return snprintf(path, len, "/sys/bus/pci/devices/%s/%s", pci, file) >= (int)len;
}

/* Memory decode and bus mastering on, as a driver would turn them on. */
static int edu_enable(const char *pci)
{
	char path[128];
	uint16_t cmd;
	int fd, ret = 0;

	sysfs_path(path, sizeof(path), pci, "config");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	if (pread(fd, &cmd, 2, 4) != 2)
		ret = fail("reading the command register of %s: %s", pci, strerror(errno));
	cmd |= 0x6;
	if (!ret && pwrite(fd, &cmd, 2, 4) != 2)
		ret = fail("writing the command register of %s: %s", pci, strerror(errno));
	close(fd);
	return ret;
}

static volatile uint8_t *edu_map(const char *pci)
{
	char path[128];
	void *p;
	int fd;

	sysfs_path(path, sizeof(path), pci, "resource0");
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		fail("%s: %s", path, strerror(errno));
		return NULL;
	}
	p = mmap(NULL, EDU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fail("mmap of %s: %s", path, strerror(errno));
		return NULL;
	}
	return p;
}

static uint32_t rd32(volatile uint8_t *r, unsigned int off)
{
	return *(volatile uint32_t *)(r + off);
}

static void wr64(volatile uint8_t *r, unsigned int off, uint64_t v)
{
	*(volatile uint64_t *)(r + off) = v;
}

/* One edu DMA of @len bytes, waited for (the edu takes ~100 ms of guest time). */
static int edu_dma(volatile uint8_t *r, uint64_t src, uint64_t dst, uint32_t len, bool to_ram)
{
	int waited;

	wr64(r, EDU_DMA_SRC, src);
	wr64(r, EDU_DMA_DST, dst);
	wr64(r, EDU_DMA_COUNT, len);
	wr64(r, EDU_DMA_CMD, EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0));
	for (waited = 0; waited < 10000; waited += 5) {
		if (!(rd32(r, EDU_DMA_CMD) & EDU_CMD_START))
			return 0;
		usleep(5000);
	}
	return fail("the edu's DMA of %u bytes did not finish in 10 s", len);
}

/* The bus address of BAR @bar of @pci: its resource start (x86: bus = CPU). */
static int bar_start(const char *pci, int bar, uint64_t *start)
{
	unsigned long long s, e, f;
	char path[128], line[128];
	FILE *fp;
	int i;

	sysfs_path(path, sizeof(path), pci, "resource");
	fp = fopen(path, "re");
	if (!fp)
		return fail("%s: %s", path, strerror(errno));
	for (i = 0; i <= bar && fgets(line, sizeof(line), fp); i++)
		;
	fclose(fp);
	if (i <= bar || sscanf(line, "%llx %llx %llx", &s, &e, &f) != 3)
		return fail("%s: no line for BAR %d", path, bar);
	*start = s;
	return 0;
}

static int parse(struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "edu", required_argument, NULL, 'e' },
		{ "bar-pci", required_argument, NULL, 'p' },
		{ "bar", required_argument, NULL, 'b' },
		{ "bar-file", required_argument, NULL, 'F' },
		{ "expect", required_argument, NULL, 'x' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .bar = -1 };
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'e': o->edu = optarg; break;
		case 'p': o->bar_pci = optarg; break;
		case 'b': o->bar = atoi(optarg); break;
		case 'F': o->bar_file = optarg; break;
		case 'x': o->expect = optarg; break;
		default: return 2;
		}
	}
	if (!o->edu || !o->bar_pci || o->bar < 0 || o->bar >= P2PMR_MAX_BARS || !o->bar_file ||
	    !o->expect || (strcmp(o->expect, "iommu") && strcmp(o->expect, "bus"))) {
		fprintf(stderr, "usage: edu-dma-test --edu PCI --bar-pci PCI --bar N --bar-file PATH --expect iommu|bus\n");
		return 2;
	}
	return 0;
}

/*
 * The edu copies 2 KiB at @src to @dst (offsets into the range) by its DMA:
 * a read of the BAR into its buffer, a write of the buffer into the BAR.
 * @bar is the CPU's mapping of the range, to set the source bytes.
 */
static int edu_copy(const struct opts *o, volatile uint8_t *r, volatile uint8_t *bar, uint64_t dma,
		    uint32_t src, uint32_t dst, uint64_t seed)
{
	uint8_t want[EDU_XFER], got[EDU_XFER];
	unsigned int i;

	pattern_fill((uint64_t *)want, sizeof(want), seed);
	for (i = 0; i < EDU_XFER; i += 4) {
		*(volatile uint32_t *)(bar + src + i) = *(uint32_t *)(want + i);
		*(volatile uint32_t *)(bar + dst + i) = 0;
	}
	if (edu_dma(r, dma + src, EDU_BUF, EDU_XFER, false) ||
	    edu_dma(r, EDU_BUF, dma + dst, EDU_XFER, true))
		return 1;
	CHECK_OK(host_file_read(o->bar_file, RANGE_OFFSET + dst, got, sizeof(got)));
	if (memcmp(got, want, sizeof(want)))
		return fail("the edu's copy from 0x%" PRIx64 " to 0x%" PRIx64 " is not in the BAR's host file",
			    dma + src, dma + dst);
	printf("edu DMA: 2 KiB read at 0x%" PRIx64 " and written at 0x%" PRIx64 ": in the BAR's host file at 0x%x\n",
	       dma + src, dma + dst, RANGE_OFFSET + dst);
	return 0;
}

int main(int argc, char **argv)
{
	struct p2pmr_range range = { RANGE_OFFSET, RANGE_LENGTH };
	struct dma_buf_ti_status st;
	struct dma_buf_ti_seg seg;
	struct p2pmr_device *dev;
	volatile uint8_t *regs, *bar;
	size_t bar_len;
	void *addr;
	uint64_t bus = 0, dma;
	uint32_t nr;
	struct opts o;
	int ret, ti, fd;
	bool bus_addr;

	ret = parse(&o, argc, argv);
	if (ret)
		return ret;
	if (edu_enable(o.edu))
		return 1;
	regs = edu_map(o.edu);
	if (!regs)
		return 1;
	if (rd32(regs, EDU_ID) != EDU_ID_VALUE)
		return fail("%s is not an edu: ID 0x%08x", o.edu, rd32(regs, EDU_ID));
	if (p2pmr_device_open(o.bar_pci, P2PMR_VFIO_API_AUTO, &dev) ||
	    p2pmr_dmabuf_export(dev, o.bar, &range, 1, &fd) ||
	    p2pmr_bar_mmap(dev, o.bar, &addr, &bar_len))
		return fail("exporting BAR %d of %s: %s", o.bar, o.bar_pci, p2pmr_last_error());
	bar = (volatile uint8_t *)addr + RANGE_OFFSET;

	ti = ti_open();
	if (ti < 0)
		return fail("%s: %s", TEST_IMPORTER_DEV, strerror(-ti));
	CHECK_OK(ti_attach(ti, fd, o.edu));
	CHECK_OK(ti_map(ti, &seg, 1, &nr));
	if (nr != 1 || seg.len != RANGE_LENGTH)
		return fail("the mapping has %u segments (first 0x%" PRIx64 " bytes), expected one of 0x%x",
			    nr, (uint64_t)seg.len, RANGE_LENGTH);
	dma = seg.dma_addr;
	bus_addr = seg.flags & DMA_BUF_TI_SEG_BUS_ADDR;
	CHECK_OK(bar_start(o.bar_pci, o.bar, &bus));
	printf("mapped for the edu %s: DMA address 0x%" PRIx64 " (%s); the BAR range's bus address is 0x%" PRIx64 "\n",
	       o.edu, dma, bus_addr ? "a PCI bus address" : "an IOVA of its IOMMU domain",
	       bus + RANGE_OFFSET);
	if (!strcmp(o.expect, "bus") && (!bus_addr || dma != bus + RANGE_OFFSET))
		return fail("expected the range's bus address 0x%" PRIx64 ", flagged as such",
			    bus + RANGE_OFFSET);
	if (!strcmp(o.expect, "iommu") && bus_addr)
		return fail("expected an IOMMU-mapped address, got a bus address");

	if (edu_copy(&o, regs, bar, dma, 0, 0x8000, 0xed01) ||
	    edu_copy(&o, regs, bar, dma, 0x1000, RANGE_LENGTH - EDU_XFER, 0xed02))
		return 1;

	/* A revoke takes the mapping away; mapping again fails until decode is back. */
	CHECK_OK(vfio_set_memory_decode(dev, false));
	CHECK_OK(ti_status(ti, &st));
	if (st.mapped || !st.move_notify_count)
		return fail("after the revoke the importer is %smapped, told %" PRIu64 " times",
			    st.mapped ? "still " : "un", (uint64_t)st.move_notify_count);
	ret = ti_map(ti, &seg, 1, &nr);
	if (ret != -ENODEV)
		return fail("mapping the revoked dma-buf: %s, expected ENODEV",
			    ret ? strerror(-ret) : "success");
	CHECK_OK(vfio_set_memory_decode(dev, true));
	CHECK_OK(ti_map(ti, &seg, 1, &nr));
	if (edu_copy(&o, regs, bar, seg.dma_addr, 0x2000, 0x4000, 0xed03))
		return 1;
	printf("revoked: the importer was told and unmapped, mapping failed with ENODEV; decode on: mapped again, the edu's DMA lands\n");

	CHECK_OK(ti_detach(ti));
	close(ti);
	close(fd);
	p2pmr_bar_munmap(addr, bar_len);
	p2pmr_device_close(dev);
	munmap((void *)regs, EDU_BAR0_SIZE);
	return 0;
}
