// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nvme-dma-test: bytes moved by a device's own DMA, through iommufd.
 *
 * An NVMe controller bound to vfio-pci, driven by the userspace driver of
 * libibverbs/tools/nvme.c over its VFIO cdev bound to an iommufd, READs
 * from and WRITEs to its namespace, whose backing file the guest sees
 * (--ns-file, the host's file over 9p). The memory side of each command
 * is an IOVA of the IOAS the controller is attached to:
 *  - host memory mapped by address (IOMMU_IOAS_MAP): READ gives the
 *    file's bytes, WRITE lands in the file;
 *  - the ivshmem BAR (--bar-pci, --bar, --bar-file: the host's file behind
 *    it) mapped by its dma-buf (IOMMU_IOAS_MAP_FILE): READ lands in the
 *    BAR's host file, WRITE takes the BAR's bytes; a revoke stops every
 *    byte;
 *  - a memfd mapped by fd (IOMMU_IOAS_MAP_FILE).
 * And every errno libp2pmr's iommufd calls document, from the kernel.
 *
 * usage: nvme-dma-test --list
 *        nvme-dma-test CASE|all --nvme PCI --ns-file PATH
 *                      [--bar-pci PCI --bar N --bar-file PATH] [--other PCI]
 * One CASE: exit status 0 passed, 1 failed, 2 usage. "all": every case in
 * turn on one open controller, TAP on standard output, exit status 1 if
 * one failed. A kernel without IOMMU_IOAS_MAP_FILE fails the cases that
 * need it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/udmabuf.h>

#include "p2pmr.h"
#include "cases.h"
#include "check.h"
#include "nvme.h"
#include "pattern.h"
#include "unpriv.h"
#include "vfio_ctl.h"

#define TIMEOUT_MS 20000
#define RW (P2PMR_IOAS_MAP_READABLE | P2PMR_IOAS_MAP_WRITEABLE)

/* Namespace layout: the cases READ below 8 MiB and WRITE each its own range above. */
#define NS_WRITE_BASE	(8u << 20)
/* The BAR range the BAR cases export: 4 MiB at 8 MiB. */
#define BAR_OFFSET	(8u << 20)
#define BAR_LENGTH	(4u << 20)

struct opts {
	const char *nvme, *ns_file, *bar_pci, *bar_file, *other;
	int bar;
};

struct env {
	const struct opts *o;
	struct p2pmr_iommufd *ictx;
	uint32_t ioas;
	struct nvme_ctrl nvme;
	bool nvme_open;
	uint64_t ns_size;
	/* BAR cases */
	struct p2pmr_device *bar_dev;
	int dmabuf;
	uint64_t bar_iova;
	uint8_t *bar_map;
	size_t bar_map_len;
};

/* Host memory mapped into the IOAS. */
struct hbuf {
	uint8_t *va;
	uint64_t len, iova;
};

static int hbuf_map(struct env *e, struct hbuf *b, uint64_t len, uint32_t flags)
{
	b->len = len;
	b->va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->va == MAP_FAILED)
		return fail("mmap of %" PRIu64 " bytes: %s", len, strerror(errno));
	memset(b->va, 0xee, len);
	if (p2pmr_ioas_map(e->ictx, e->ioas, b->va, len, flags, &b->iova))
		return fail("p2pmr_ioas_map: %s", p2pmr_last_error());
	return 0;
}

static void hbuf_unmap(struct env *e, struct hbuf *b)
{
	if (b->va && b->va != MAP_FAILED) {
		p2pmr_ioas_unmap(e->ictx, e->ioas, b->iova, b->len);
		munmap(b->va, b->len);
	}
	b->va = NULL;
}

/* The first byte where @a and @b differ, described; 0 when equal. */
static int compare(const char *what, const uint8_t *got, const uint8_t *want, uint64_t len)
{
	uint64_t i;

	for (i = 0; i < len; i++)
		if (got[i] != want[i])
			return fail("%s: byte 0x%" PRIx64 " of 0x%" PRIx64 " is 0x%02x, expected 0x%02x",
				    what, i, len, got[i], want[i]);
	return 0;
}

/*
 * IOMMU faults from the kernel log. QEMU's NVMe completes a command whose
 * DMA the vIOMMU refused as a success (the write goes nowhere: QEMU 7.2
 * reports no DMA error to the device), so what shows that the IOMMU
 * stopped it is the fault the guest's intel-iommu driver logs ("DMAR:
 * [DMA Write NO_PASID] Request device [06:00.0] fault addr 0x44000 ...").
 */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* A DMA fault of @pci at an address in [@lo, @hi) logged since kmsg_open()? */
static bool kmsg_dma_fault(int fd, const char *pci, uint64_t lo, uint64_t hi)
{
	char rec[1024], dev[32], *p;
	unsigned long long addr;
	int waited = 0;
	ssize_t n;

	snprintf(dev, sizeof(dev), "Request device [%s]", strchr(pci, ':') + 1);
	while (waited < 5000) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: read on */
		if (n <= 0) {
			usleep(20000);
			waited += 20;
			continue;
		}
		rec[n] = '\0';
		p = strstr(rec, dev);
		if (p && (p = strstr(p, "fault addr 0x")) && sscanf(p, "fault addr 0x%llx", &addr) == 1 &&
		    addr >= lo && addr < hi) {
			printf("the IOMMU logged: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
			return true;
		}
	}
	return false;
}

static int file_bytes(const char *path, uint64_t off, void *buf, uint64_t len)
{
	int ret = host_file_read(path, off, buf, len);

	if (ret)
		return fail("reading 0x%" PRIx64 " bytes at 0x%" PRIx64 " of %s: %s", len, off, path,
			    strerror(-ret));
	return 0;
}

static uint64_t prp_pages(uint64_t len)
{
	uint64_t pages = len / NVME_PAGE;

	return pages <= 2 ? 0 : (pages - 1 + 510) / 511;
}

/* NVMe READ of @len at namespace @off into @iova; fail on any error. */
static int nvme_ok(struct env *e, bool write, uint64_t off, uint64_t iova, uint64_t len)
{
	if (nvme_rw(&e->nvme, write, off, iova, len, NULL))
		return fail("NVMe %s of 0x%" PRIx64 " bytes at 0x%" PRIx64 " (IOVA 0x%" PRIx64 "): %s",
			    write ? "WRITE" : "READ", len, off, iova, p2pmr_last_error());
	return 0;
}

/* ---- host memory by address --------------------------------------------- */

static int read_host(struct env *e, uint64_t len)
{
	uint64_t off = len == 4096 ? 0x3000 : len;	/* a few distinct places */
	struct hbuf b;
	uint8_t *want;
	int ret;

	if (hbuf_map(e, &b, len, RW))
		return 1;
	want = malloc(len);
	ret = !want || nvme_ok(e, false, off, b.iova, len) ||
	      file_bytes(e->o->ns_file, off, want, len) ||
	      compare("NVMe READ into host memory vs the namespace file", b.va, want, len);
	if (!ret)
		printf("READ 0x%" PRIx64 " bytes at 0x%" PRIx64 " into IOVA 0x%" PRIx64 " (%" PRIu64 " PRP list pages): the file's bytes\n",
		       len, off, b.iova, prp_pages(len));
	free(want);
	hbuf_unmap(e, &b);
	return ret;
}

static int write_host(struct env *e, uint64_t len, uint64_t seed)
{
	uint64_t off = NS_WRITE_BASE + (len == 4096 ? 0x1000 : len);
	struct hbuf b, back;
	uint8_t *got;
	int ret;

	if (hbuf_map(e, &b, len, RW) || hbuf_map(e, &back, len, RW))
		return 1;
	pattern_fill((uint64_t *)b.va, len, seed);
	got = malloc(len);
	ret = !got || nvme_ok(e, true, off, b.iova, len) ||
	      file_bytes(e->o->ns_file, off, got, len) ||
	      compare("the namespace file after NVMe WRITE from host memory", got, b.va, len) ||
	      nvme_ok(e, false, off, back.iova, len) ||
	      compare("NVMe READ back of what was written", back.va, b.va, len);
	if (!ret)
		printf("WRITE 0x%" PRIx64 " bytes from IOVA 0x%" PRIx64 " (%" PRIu64 " PRP list pages) to 0x%" PRIx64 ": in the file, and read back\n",
		       len, b.iova, prp_pages(len), off);
	free(got);
	hbuf_unmap(e, &b);
	hbuf_unmap(e, &back);
	return ret;
}

static int case_identify(struct env *e)
{
	printf("serial '%s' model '%s', namespace 1: %" PRIu64 " blocks of %u bytes, max transfer 0x%" PRIx64 "\n",
	       e->nvme.serial, e->nvme.model, e->nvme.ns_blocks, e->nvme.lba_size,
	       e->nvme.max_transfer);
	if (strcmp(e->nvme.serial, "p2pmr-dma"))
		return fail("serial '%s', expected 'p2pmr-dma'", e->nvme.serial);
	if (e->nvme.ns_blocks * e->nvme.lba_size != e->ns_size)
		return fail("namespace of %" PRIu64 " bytes, the file has %" PRIu64,
			    e->nvme.ns_blocks * e->nvme.lba_size, e->ns_size);
	if (e->nvme.max_transfer < (1u << 20))
		return fail("max transfer 0x%" PRIx64 " < 1 MiB (QEMU's mdts too small)",
			    e->nvme.max_transfer);
	return 0;
}

static int case_read_4k(struct env *e) { return read_host(e, 4096); }
static int case_read_8k(struct env *e) { return read_host(e, 8192); }
static int case_read_64k(struct env *e) { return read_host(e, 64 << 10); }
static int case_read_1m(struct env *e) { return read_host(e, 1 << 20); }
static int case_read_max(struct env *e) { return read_host(e, e->nvme.max_transfer); }
static int case_write_4k(struct env *e) { return write_host(e, 4096, 0x4001); }
static int case_write_64k(struct env *e) { return write_host(e, 64 << 10, 0x4002); }
static int case_write_1m(struct env *e) { return write_host(e, 1 << 20, 0x4003); }
static int case_write_max(struct env *e) { return write_host(e, e->nvme.max_transfer, 0x4004); }

/* Many commands in flight at once, each into its own part of one buffer. */
static int case_queue_full(struct env *e)
{
	const unsigned int n = NVME_QDEPTH - 1;
	const uint64_t len = 64 << 10;
	uint16_t cid[NVME_QDEPTH];
	struct hbuf b;
	uint8_t *want;
	unsigned int i;
	int ret = 0;

	if (hbuf_map(e, &b, n * len, RW))
		return 1;
	for (i = 0; i < n; i++)
		if (nvme_submit_rw(&e->nvme, false, (uint64_t)i * len, b.iova + i * len, len, &cid[i]))
			return fail("submit %u: %s", i, p2pmr_last_error());
	for (i = 0; i < n; i++)
		if (nvme_wait(&e->nvme, cid[i], NULL))
			return fail("command %u: %s", i, p2pmr_last_error());
	want = malloc(n * len);
	ret = !want || file_bytes(e->o->ns_file, 0, want, n * len) ||
	      compare("31 READs in flight at once", b.va, want, n * len);
	if (!ret)
		printf("%u READs of 64 KiB in flight at once: the file's bytes\n", n);
	free(want);
	hbuf_unmap(e, &b);
	return ret;
}

/*
 * The IOMMU is in the path: DMA to an IOVA nothing maps faults in the
 * IOMMU (QEMU completes the command all the same: see kmsg_open()).
 */
static int case_unmapped_iova(struct env *e)
{
	struct hbuf b;
	uint16_t status = 0;
	char s[64];
	int kmsg, ret;

	if (hbuf_map(e, &b, 64 << 10, RW))
		return 1;
	hbuf_unmap(e, &b);	/* the IOVA range is free again */
	kmsg = kmsg_open();
	ret = nvme_rw(&e->nvme, false, 0, b.iova, 64 << 10, &status);
	if (ret && ret != EIO)
		return fail("READ into an unmapped IOVA: %s", p2pmr_last_error());
	printf("READ into unmapped IOVA 0x%" PRIx64 ": %s\n", b.iova,
	       nvme_status_str(status, s, sizeof(s)));
	ret = kmsg_dma_fault(kmsg, e->o->nvme, b.iova, b.iova + (64 << 10)) ? 0 :
	      fail("no IOMMU fault of %s in [0x%" PRIx64 ", +64K) in the kernel log", e->o->nvme,
		   b.iova);
	close(kmsg);
	return ret;
}

/* A mapping without WRITEABLE: the device's writes fault, the memory stays. */
static int case_read_only_mapping(struct env *e)
{
	struct hbuf b;
	uint16_t status = 0;
	char s[64];
	uint64_t i;
	int kmsg, ret;

	if (hbuf_map(e, &b, 64 << 10, P2PMR_IOAS_MAP_READABLE))
		return 1;
	kmsg = kmsg_open();
	ret = nvme_rw(&e->nvme, false, 0, b.iova, 64 << 10, &status);
	if (ret && ret != EIO) {
		hbuf_unmap(e, &b);
		return fail("READ into a read-only mapping: %s", p2pmr_last_error());
	}
	printf("READ into a read-only mapping: %s\n", nvme_status_str(status, s, sizeof(s)));
	for (i = 0, ret = 0; i < b.len && !ret; i++)
		if (b.va[i] != 0xee)
			ret = fail("byte 0x%" PRIx64 " of the read-only buffer changed", i);
	if (!ret && !kmsg_dma_fault(kmsg, e->o->nvme, b.iova, b.iova + b.len))
		ret = fail("no IOMMU fault of %s in the read-only range in the kernel log",
			   e->o->nvme);
	if (!ret)
		printf("the buffer is untouched\n");
	close(kmsg);
	hbuf_unmap(e, &b);
	return ret;
}

/* ---- errnos of libp2pmr's iommufd calls ---------------------------------- */

/* @ret must be @err with @words in the message. */
static int expect(int ret, int err, const char *words, const char *what)
{
	if (ret != err || !strstr(p2pmr_last_error(), words))
		return fail("%s: got %s, message '%s'; expected %s with '%s'", what,
			    ret ? strerror(ret) : "success", p2pmr_last_error(), strerror(err),
			    words);
	printf("%s: %s: %s\n", what, strerror(err), p2pmr_last_error());
	return 0;
}

/* A process without the rights to /dev/iommu (nobody, no capabilities). */
static int case_err_open_unpriv(struct env *e)
{
	struct p2pmr_iommufd *ictx;
	int status;
	pid_t pid;

	(void)e;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		if (unpriv_drop())
			_exit(1);
		_exit(expect(p2pmr_iommufd_open(&ictx), EACCES, "run as root",
			     "p2pmr_iommufd_open() as nobody"));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return fail("the unprivileged child did not exit");
	return WEXITSTATUS(status);
}

static int case_err_close_busy(struct env *e)
{
	return expect(p2pmr_iommufd_close(e->ictx), EBUSY, "1 device is still bound",
		      "p2pmr_iommufd_close() with a device bound");
}

static int case_err_destroy_unknown(struct env *e)
{
	return expect(p2pmr_ioas_destroy(e->ictx, e->ioas + 1000), ENOENT, "has no object",
		      "p2pmr_ioas_destroy() of an id that does not exist");
}

static int case_err_destroy_attached(struct env *e)
{
	return expect(p2pmr_ioas_destroy(e->ictx, e->ioas), EBUSY, "is in use",
		      "p2pmr_ioas_destroy() of the IOAS a device is attached to");
}

static int case_err_map_flags(struct env *e)
{
	static char buf[8192] __attribute__((aligned(4096)));
	uint64_t iova = 0;

	return expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 4096, RW | 0x10, &iova), EINVAL,
		      "flags 0x10 are not P2PMR_IOAS_MAP_*", "unknown map flags") ||
	       expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 4096, P2PMR_IOAS_MAP_FIXED_IOVA, &iova),
		      EINVAL, "neither P2PMR_IOAS_MAP_READABLE", "neither READABLE nor WRITEABLE") ||
	       expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 0, RW, &iova), EINVAL, "length is 0",
		      "length 0") ||
	       expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 4096, RW, NULL), EINVAL,
		      "iovap is NULL", "iovap NULL") ||
	       expect(p2pmr_ioas_map_file(e->ictx, e->ioas, 0, 0, 4096, RW | 0x80, &iova), EINVAL,
		      "flags 0x80 are not", "p2pmr_ioas_map_file() with unknown flags");
}

static int case_err_map_no_ioas(struct env *e)
{
	struct hbuf b = { 0 };
	int ret;

	b.va = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ret = expect(p2pmr_ioas_map(e->ictx, e->ioas + 1000, b.va, 4096, RW, &b.iova), ENOENT,
		     "does not exist", "p2pmr_ioas_map() into an IOAS that does not exist");
	munmap(b.va, 4096);
	return ret;
}

static int case_err_map_iova_in_use(struct env *e)
{
	struct hbuf b, c = { 0 };
	int ret;

	if (hbuf_map(e, &b, 2 * 4096, RW))
		return 1;
	c.va = b.va;
	c.iova = b.iova + 4096;
	ret = expect(p2pmr_ioas_map(e->ictx, e->ioas, c.va, 4096, RW | P2PMR_IOAS_MAP_FIXED_IOVA,
				    &c.iova),
		     EEXIST, "is already mapped", "FIXED_IOVA over a mapped range");
	hbuf_unmap(e, &b);
	return ret;
}

static int case_err_map_unaligned(struct env *e)
{
	struct hbuf b;
	uint64_t iova;
	int ret;

	if (hbuf_map(e, &b, 2 * 4096, RW))
		return 1;
	hbuf_unmap(e, &b);
	b.va = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	iova = b.iova + 0x200;
	ret = expect(p2pmr_ioas_map(e->ictx, e->ioas, b.va, 4096, RW | P2PMR_IOAS_MAP_FIXED_IOVA,
				    &iova),
		     EINVAL, "not aligned", "FIXED_IOVA at an IOVA not page aligned");
	munmap(b.va, 4096);
	return ret;
}

static int case_err_map_efault(struct env *e)
{
	uint8_t *va;
	uint64_t iova;
	int ret;

	/* An address range with nothing mapped (reserved, then unmapped). */
	va = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(va, 1 << 20);
	ret = expect(p2pmr_ioas_map(e->ictx, e->ioas, va, 1 << 20, RW, &iova), EFAULT,
		     "is not mapped in this process", "p2pmr_ioas_map() of unmapped memory");
	return ret;
}

static int case_err_map_overflow(struct env *e)
{
	static char buf[4096] __attribute__((aligned(4096)));
	uint64_t iova = 0xfffffffffffff000ull;

	return expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 0x2000, RW | P2PMR_IOAS_MAP_FIXED_IOVA,
				     &iova),
		      EOVERFLOW, "overflows", "an IOVA range that wraps past 2^64");
}

static int case_err_map_nospace(struct env *e)
{
	static char buf[4096] __attribute__((aligned(4096)));
	uint64_t iova;

	/* More IOVA than the attached domain's aperture holds. */
	return expect(p2pmr_ioas_map(e->ictx, e->ioas, buf, 1ull << 60, RW, &iova), ENOSPC,
		      "has no free IOVA range", "a mapping larger than the usable IOVA space");
}

static int case_err_unmap(struct env *e)
{
	struct hbuf b;
	int ret;

	if (hbuf_map(e, &b, 2 * 4096, RW))
		return 1;
	ret = expect(p2pmr_ioas_unmap(e->ictx, e->ioas, b.iova, 4096), ENOENT, "covers whole",
		     "p2pmr_ioas_unmap() of half a mapping") ||
	      expect(p2pmr_ioas_unmap(e->ictx, e->ioas, b.iova, 0), EINVAL, "length is 0",
		     "p2pmr_ioas_unmap() of length 0");
	hbuf_unmap(e, &b);
	if (!ret)
		ret = expect(p2pmr_ioas_unmap(e->ictx, e->ioas, b.iova, 2 * 4096), ENOENT,
			     "covers whole", "p2pmr_ioas_unmap() where nothing is mapped");
	return ret;
}

static int case_err_bind(struct env *e)
{
	struct p2pmr_device *dev;
	int ret;

	ret = expect(p2pmr_device_bind_iommufd("00:1f.9", e->ictx, &dev), EINVAL,
		     "is not a PCI address", "p2pmr_device_bind_iommufd() of a malformed address") ||
	      expect(p2pmr_device_bind_iommufd("0000:ff:1f.7", e->ictx, &dev), ENODEV,
		     "no PCI device", "p2pmr_device_bind_iommufd() of a missing device");
	if (ret)
		return ret;
	if (!e->o->other)
		return fail("--other PCI (a device bound to another driver) is needed");
	return expect(p2pmr_device_bind_iommufd(e->o->other, e->ictx, &dev), ENODEV,
		      "not vfio-pci", "p2pmr_device_bind_iommufd() of a device bound to another driver");
}

static int case_err_bind_twice(struct env *e)
{
	struct p2pmr_device *dev;
	int ret;

	ret = p2pmr_device_bind_iommufd(e->o->nvme, e->ictx, &dev);
	if (!ret) {
		p2pmr_device_close(dev);
		return fail("binding the NVMe a second time succeeded");
	}
	return expect(ret, EINVAL, "is bound already", "a device bound twice");
}

static int case_err_attach(struct env *e)
{
	struct p2pmr_device *dev = e->nvme.dev, *own;
	int ret;

	ret = expect(p2pmr_device_attach_ioas(dev, e->ioas + 1000), ENOENT, "does not exist",
		     "p2pmr_device_attach_ioas() to an IOAS that does not exist");
	if (ret)
		return ret;
	if (!e->o->bar_pci)
		return fail("--bar-pci (a second device bound to vfio-pci) is needed");
	if (p2pmr_device_open(e->o->bar_pci, P2PMR_VFIO_API_CDEV, &own))
		return fail("p2pmr_device_open(%s): %s", e->o->bar_pci, p2pmr_last_error());
	ret = expect(p2pmr_device_attach_ioas(own, e->ioas), EINVAL,
		     "not opened by p2pmr_device_bind_iommufd",
		     "p2pmr_device_attach_ioas() of a device with its own iommufd");
	p2pmr_device_close(own);
	return ret;
}

/* ---- files by fd: memfd, the BAR's dma-buf --------------------------------- */

static int map_file_result(int ret, const char *what)
{
	if (ret)
		return fail("%s: %s", what, p2pmr_last_error());
	return 0;
}

/* A memfd of @len bytes, mapped into this process at *@vap: its fd, or -1. */
static int memfd_new(uint64_t len, uint8_t **vap)
{
	int fd = memfd_create("nvme-dma", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, len)) {
		fail("memfd: %s", strerror(errno));
		goto err;
	}
	*vap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*vap == MAP_FAILED) {
		fail("memfd mapping: %s", strerror(errno));
		goto err;
	}
	return fd;
err:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int case_memfd_read(struct env *e)
{
	const uint64_t len = 1 << 20;
	uint8_t *va, *want;
	uint64_t iova;
	int fd, ret;

	fd = memfd_new(len, &va);
	if (fd < 0)
		return 1;
	ret = map_file_result(p2pmr_ioas_map_file(e->ictx, e->ioas, fd, 0, len, RW, &iova),
			      "p2pmr_ioas_map_file() of a memfd");
	if (ret) {
		munmap(va, len);
		close(fd);
		return ret;
	}
	want = malloc(len);
	ret = !want || nvme_ok(e, false, 0x100000, iova, len) ||
	      file_bytes(e->o->ns_file, 0x100000, want, len) ||
	      compare("the memfd after NVMe READ into its IOVA", va, want, len);
	if (!ret)
		printf("READ 1 MiB into memfd IOVA 0x%" PRIx64 ": the memfd holds the file's bytes\n",
		       iova);
	p2pmr_ioas_unmap(e->ictx, e->ioas, iova, len);
	free(want);
	munmap(va, len);
	close(fd);
	return ret;
}

static int case_memfd_write(struct env *e)
{
	const uint64_t len = 1 << 20, off = NS_WRITE_BASE + (2u << 20);
	uint8_t *va, *got;
	uint64_t iova;
	int fd, ret;

	fd = memfd_new(len, &va);
	if (fd < 0)
		return 1;
	got = malloc(len);
	if (!got) {
		munmap(va, len);
		close(fd);
		return fail("out of memory");
	}
	pattern_fill((uint64_t *)va, len, 0x4001);
	ret = map_file_result(p2pmr_ioas_map_file(e->ictx, e->ioas, fd, 0, len,
						  P2PMR_IOAS_MAP_READABLE, &iova),
			      "p2pmr_ioas_map_file() of a memfd, READABLE");
	if (!ret) {
		ret = nvme_ok(e, true, off, iova, len) || file_bytes(e->o->ns_file, off, got, len) ||
		      compare("the namespace file after NVMe WRITE from the memfd", got, va, len);
		p2pmr_ioas_unmap(e->ictx, e->ioas, iova, len);
	}
	if (!ret)
		printf("WRITE 1 MiB from memfd IOVA 0x%" PRIx64 ": the namespace file holds the memfd's bytes\n",
		       iova);
	munmap(va, len);
	free(got);
	close(fd);
	return ret;
}

/* Bind the ivshmem, attach it, export the BAR range, map it. */
static int bar_setup(struct env *e, bool map)
{
	struct p2pmr_range range = { BAR_OFFSET, BAR_LENGTH };
	void *addr;
	int ret;

	if (!e->o->bar_pci || e->o->bar < 0 || !e->o->bar_file)
		return fail("--bar-pci, --bar and --bar-file are needed");
	if (p2pmr_device_bind_iommufd(e->o->bar_pci, e->ictx, &e->bar_dev) ||
	    p2pmr_device_attach_ioas(e->bar_dev, e->ioas) ||
	    p2pmr_dmabuf_export(e->bar_dev, e->o->bar, &range, 1, &e->dmabuf) ||
	    p2pmr_bar_mmap(e->bar_dev, e->o->bar, &addr, &e->bar_map_len))
		return fail("BAR %d of %s: %s", e->o->bar, e->o->bar_pci, p2pmr_last_error());
	e->bar_map = addr;
	if (!map)
		return 0;
	ret = p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH, RW, &e->bar_iova);
	return map_file_result(ret, "p2pmr_ioas_map_file() of the BAR dma-buf");
}

static int bar_read(struct env *e, uint64_t len)
{
	uint64_t off = len;
	uint8_t *want, *got;
	int ret;

	ret = bar_setup(e, true);
	if (ret)
		return ret;
	want = malloc(len);
	got = malloc(len);
	ret = !want || !got || nvme_ok(e, false, off, e->bar_iova, len) ||
	      file_bytes(e->o->ns_file, off, want, len) ||
	      file_bytes(e->o->bar_file, BAR_OFFSET, got, len) ||
	      compare("the BAR's host file after NVMe READ into the BAR", got, want, len);
	if (!ret)
		printf("READ 0x%" PRIx64 " bytes (%" PRIu64 " PRP list pages) into the BAR at IOVA 0x%" PRIx64 ": the ivshmem host file holds the namespace's bytes\n",
		       len, prp_pages(len), e->bar_iova);
	free(want);
	free(got);
	return ret;
}

static int bar_write(struct env *e, uint64_t len, uint64_t seed)
{
	uint64_t off = NS_WRITE_BASE + (4u << 20) + len;
	uint8_t *want, *got;
	int ret;

	ret = bar_setup(e, true);
	if (ret)
		return ret;
	want = malloc(len);
	got = malloc(len);
	if (!want || !got) {
		free(want);
		free(got);
		return fail("out of memory");
	}
	pattern_fill((uint64_t *)want, len, seed);
	memcpy(e->bar_map + BAR_OFFSET, want, len);
	ret = nvme_ok(e, true, off, e->bar_iova, len) ||
	      file_bytes(e->o->ns_file, off, got, len) ||
	      compare("the namespace file after NVMe WRITE from the BAR", got, want, len);
	if (!ret)
		printf("WRITE 0x%" PRIx64 " bytes (%" PRIu64 " PRP list pages) from the BAR at IOVA 0x%" PRIx64 ": the namespace file holds the BAR's bytes\n",
		       len, prp_pages(len), e->bar_iova);
	free(want);
	free(got);
	return ret;
}

static int case_bar_read_4k(struct env *e) { return bar_read(e, 4096); }
static int case_bar_read_64k(struct env *e) { return bar_read(e, 64 << 10); }
static int case_bar_read_1m(struct env *e) { return bar_read(e, 1 << 20); }
static int case_bar_write_4k(struct env *e) { return bar_write(e, 4096, 0x5001); }
static int case_bar_write_64k(struct env *e) { return bar_write(e, 64 << 10, 0x5002); }
static int case_bar_write_1m(struct env *e) { return bar_write(e, 1 << 20, 0x5003); }

/*
 * Commands into the BAR in flight while its dma-buf is revoked (memory
 * decode off): from the moment the revoke returns not one byte reaches
 * the BAR's host file, and the DMA faults in the IOMMU. (The commands
 * themselves may complete as successes: QEMU's NVMe does not see the
 * faults, see kmsg_open(); on hardware they would fail.) Decode on again
 * does not bring the mapping back; unmap and map again do.
 */
static int case_bar_revoke(struct env *e)
{
	const unsigned int n = 8;
	const uint64_t len = BAR_LENGTH / n;
	uint8_t *before, *after;
	uint16_t cid[8], status;
	unsigned int i, ok = 0, failed = 0;
	uint64_t iova;
	int ret, kmsg;

	ret = bar_setup(e, true);
	if (ret)
		return ret;
	before = malloc(BAR_LENGTH);
	after = malloc(BAR_LENGTH);
	if (!before || !after)
		return fail("out of memory");
	/* A sentinel in the BAR, distinct from the namespace's bytes. */
	pattern_fill((uint64_t *)(e->bar_map + BAR_OFFSET), BAR_LENGTH, 0x6001);

	/*
	 * The kernel log from before the revoke: a DMA to the BAR's IOVAs can
	 * fault only after it, and the intel-iommu driver's fault messages are
	 * rate limited, so the first ones (of the commands in flight) count.
	 */
	kmsg = kmsg_open();
	for (i = 0; i < n; i++)
		if (nvme_submit_rw(&e->nvme, false, i * len, e->bar_iova + i * len, len, &cid[i]))
			return fail("submit %u: %s", i, p2pmr_last_error());
	CHECK_OK(vfio_set_memory_decode(e->bar_dev, false));
	if (file_bytes(e->o->bar_file, BAR_OFFSET, before, BAR_LENGTH))
		return 1;
	for (i = 0; i < n; i++) {
		ret = nvme_wait(&e->nvme, cid[i], &status);
		if (ret && ret != EIO)
			return fail("command %u: %s", i, p2pmr_last_error());
		if (ret)
			failed++;
		else
			ok++;
	}
	printf("%u READs into the BAR in flight at the revoke: %u completed as successes, %u with an error\n",
	       n, ok, failed);
	/* After the revoke: the DMA faults, nothing lands. */
	for (i = 0; i < n; i++) {
		ret = nvme_rw(&e->nvme, false, i * len, e->bar_iova + i * len, len, &status);
		if (ret && ret != EIO)
			return fail("READ %u into the revoked BAR: %s", i, p2pmr_last_error());
	}
	ret = kmsg_dma_fault(kmsg, e->o->nvme, e->bar_iova, e->bar_iova + BAR_LENGTH);
	close(kmsg);
	if (!ret)
		return fail("no IOMMU fault in the BAR's IOVA range after the revoke");
	if (file_bytes(e->o->bar_file, BAR_OFFSET, after, BAR_LENGTH) ||
	    compare("the BAR's host file after the revoke (no byte may land)", after, before,
		    BAR_LENGTH))
		return 1;
	printf("%u READs into the revoked BAR: not one byte landed\n", n);

	/* Decode on: the IOVA range still reaches nothing. */
	CHECK_OK(vfio_set_memory_decode(e->bar_dev, true));
	ret = nvme_rw(&e->nvme, false, 0, e->bar_iova, len, &status);
	if (ret && ret != EIO)
		return fail("READ after decode on: %s", p2pmr_last_error());
	if (file_bytes(e->o->bar_file, BAR_OFFSET, after, BAR_LENGTH) ||
	    compare("the BAR's host file after decode on, not mapped again", after, before,
		    BAR_LENGTH))
		return 1;
	printf("decode on: the IOVA range stays dead until mapped again\n");

	/* Unmap and map again: the BAR is reachable. */
	if (p2pmr_ioas_unmap(e->ictx, e->ioas, e->bar_iova, BAR_LENGTH))
		return fail("unmap of the revoked range: %s", p2pmr_last_error());
	iova = e->bar_iova;
	if (p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH,
				RW | P2PMR_IOAS_MAP_FIXED_IOVA, &iova))
		return fail("mapping the dma-buf again: %s", p2pmr_last_error());
	if (nvme_ok(e, false, 0, e->bar_iova, len) ||
	    file_bytes(e->o->ns_file, 0, before, len) ||
	    file_bytes(e->o->bar_file, BAR_OFFSET, after, len) ||
	    compare("the BAR's host file after mapping again and READ", after, before, len))
		return 1;
	printf("unmapped and mapped again at IOVA 0x%" PRIx64 ": READ lands in the BAR\n", iova);
	free(before);
	free(after);
	return 0;
}

static int case_err_map_file(struct env *e)
{
	uint64_t iova;
	int ret, null_fd;

	ret = bar_setup(e, true);
	if (ret)
		return ret;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, 1000, 0, 4096, RW, &iova), EBADF,
		     "is not open", "MAP_FILE of a closed fd") ||
	      expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, 4096,
					 RW | P2PMR_IOAS_MAP_FIXED_IOVA, &e->bar_iova),
		     EEXIST, "already mapped", "MAP_FILE at an IOVA in use") ||
	      expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0x200, 4096, RW, &iova),
		     EINVAL, "not aligned", "MAP_FILE of an offset not page aligned") ||
	      expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, BAR_LENGTH, 4096, RW, &iova),
		     EINVAL, "IOMMU_IOAS_MAP_FILE", "MAP_FILE past the dma-buf's end");
	if (!ret)
		ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, null_fd, 0, 4096, RW, &iova),
			     EINVAL, "not a memfd", "MAP_FILE of /dev/null (not a memfd)");
	if (!ret) {
		CHECK_OK(vfio_set_memory_decode(e->bar_dev, false));
		ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, 4096, RW, &iova),
			     ENODEV, "is revoked", "MAP_FILE of a revoked dma-buf");
		vfio_set_memory_decode(e->bar_dev, true);
	}
	close(null_fd);
	return ret;
}

/*
 * A READ into the BAR's IOVA range after a revoke: not one byte lands in
 * the BAR's host file, and the IOMMU faults. The intel-iommu driver rate
 * limits its fault messages (10 in 5 s), so READ until one is logged.
 */
static int bar_read_dead(struct env *e, const char *when)
{
	const uint64_t len = 64 << 10;
	uint8_t before[64 << 10], after[64 << 10];
	uint16_t status;
	bool faulted = false;
	int i, ret, kmsg;

	if (file_bytes(e->o->bar_file, BAR_OFFSET, before, len))
		return 1;
	kmsg = kmsg_open();
	for (i = 0; i < 3 && !faulted; i++) {
		ret = nvme_rw(&e->nvme, false, 0, e->bar_iova, len, &status);
		if (ret && ret != EIO) {
			close(kmsg);
			return fail("READ into the BAR %s: %s", when, p2pmr_last_error());
		}
		faulted = kmsg_dma_fault(kmsg, e->o->nvme, e->bar_iova, e->bar_iova + BAR_LENGTH);
	}
	close(kmsg);
	if (!faulted)
		return fail("no IOMMU fault in the BAR's IOVA range %s", when);
	if (file_bytes(e->o->bar_file, BAR_OFFSET, after, len) ||
	    compare(when, after, before, len))
		return 1;
	printf("READ into the BAR %s: the IOMMU faults, not one byte landed\n", when);
	return 0;
}

/* READ 64 KiB into the BAR: the BAR's host file holds the namespace's bytes. */
static int bar_read_lands(struct env *e, const char *when)
{
	const uint64_t len = 64 << 10, off = 0x50000;
	uint8_t want[64 << 10], got[64 << 10];

	if (nvme_ok(e, false, off, e->bar_iova, len) ||
	    file_bytes(e->o->ns_file, off, want, len) ||
	    file_bytes(e->o->bar_file, BAR_OFFSET, got, len) ||
	    compare(when, got, want, len))
		return 1;
	printf("READ into the BAR %s: in the ivshmem host file\n", when);
	return 0;
}

enum revoke_by { REVOKE_HOT_RESET, REVOKE_RESET, REVOKE_CLOSE };

/*
 * Every way vfio-pci revokes takes the BAR out of every IOMMU domain of the
 * IOAS before it returns, and it stays out once the BAR is back: the
 * range has to be unmapped and the dma-buf mapped again (a closed
 * device's dma-buf is revoked for good: ENODEV). ivshmem has no power
 * management capability: D3 is the vfio-dmabuf suite's, on the NVMe CMB.
 */
static int bar_revoke_by(struct env *e, enum revoke_by how)
{
	uint64_t iova;
	int ret;

	ret = bar_setup(e, true);
	if (ret || bar_read_lands(e, "while mapped"))
		return 1;
	/* A sentinel distinct from the namespace's bytes. */
	pattern_fill((uint64_t *)(e->bar_map + BAR_OFFSET), 64 << 10, 0x7001 + how);

	switch (how) {
	case REVOKE_HOT_RESET:
		CHECK_OK(vfio_hot_reset(e->bar_dev));
		CHECK_OK(vfio_set_memory_decode(e->bar_dev, true));
		ret = bar_read_dead(e, "after VFIO_DEVICE_PCI_HOT_RESET");
		break;
	case REVOKE_RESET:
		CHECK_OK(vfio_reset(e->bar_dev));
		/* The reset is over and the BAR decodes again: still dead. */
		CHECK_OK(vfio_set_memory_decode(e->bar_dev, true));
		ret = bar_read_dead(e, "after VFIO_DEVICE_RESET");
		break;
	case REVOKE_CLOSE:
		p2pmr_bar_munmap(e->bar_map, e->bar_map_len);
		e->bar_map = NULL;
		p2pmr_device_close(e->bar_dev);
		e->bar_dev = NULL;
		ret = bar_read_dead(e, "after its device was closed");
		if (ret)
			return ret;
		return expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH, RW,
						  &iova),
			      ENODEV, "is revoked", "MAP_FILE of a closed device's dma-buf");
	}
	if (ret)
		return ret;

	if (p2pmr_ioas_unmap(e->ictx, e->ioas, e->bar_iova, BAR_LENGTH))
		return fail("unmap of the revoked range: %s", p2pmr_last_error());
	iova = e->bar_iova;
	if (p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH,
				RW | P2PMR_IOAS_MAP_FIXED_IOVA, &iova))
		return fail("mapping the dma-buf again: %s", p2pmr_last_error());
	return bar_read_lands(e, "mapped again");
}

static int case_bar_revoke_hot_reset(struct env *e) { return bar_revoke_by(e, REVOKE_HOT_RESET); }
static int case_bar_revoke_reset(struct env *e) { return bar_revoke_by(e, REVOKE_RESET); }
static int case_bar_revoke_close(struct env *e) { return bar_revoke_by(e, REVOKE_CLOSE); }

/* IOMMU_IOAS_COPY of [@iova, @iova + @len) of @src into @dst at the same IOVA. */
static int ioas_copy(struct env *e, uint32_t src, uint32_t dst, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_copy copy = {
		.size = sizeof(copy),
		.flags = P2PMR_IOAS_MAP_FIXED_IOVA | RW,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = len,
		.dst_iova = iova,
		.src_iova = iova,
	};

	if (ioctl(p2pmr_iommufd_fd(e->ictx), IOMMU_IOAS_COPY, &copy))
		return fail("IOMMU_IOAS_COPY of IOVA 0x%" PRIx64 ", 0x%" PRIx64 " bytes: %s", iova,
			    len, strerror(errno));
	return 0;
}

static int nvme_attach(struct env *e, uint32_t ioas)
{
	if (p2pmr_device_attach_ioas(e->nvme.dev, ioas))
		return fail("moving the NVMe to IOAS %u: %s", ioas, p2pmr_last_error());
	return 0;
}

/*
 * A revoke removes the BAR from every IOMMU domain it is mapped in, not
 * only from the one the DMAing device uses. A second IOAS gets the BAR's
 * area (and the NVMe driver's queues) by IOMMU_IOAS_COPY, and a domain of
 * its own by attaching the ivshmem device to it; the NVMe reaches the BAR
 * through it. After the revoke the NVMe, moved into that domain, which
 * only the revoke touched, reaches nothing there.
 */
static int case_bar_revoke_domains(struct env *e)
{
	uint32_t other;
	int ret;

	ret = bar_setup(e, true);
	if (ret)
		return ret;
	if (p2pmr_ioas_alloc(e->ictx, &other))
		return fail("second IOAS: %s", p2pmr_last_error());
	ret = ioas_copy(e, e->ioas, other, e->bar_iova, BAR_LENGTH) ||
	      ioas_copy(e, e->ioas, other, e->nvme.mem_iova, e->nvme.mem_len);
	if (!ret && p2pmr_device_attach_ioas(e->bar_dev, other))
		ret = fail("attaching the ivshmem to the second IOAS: %s", p2pmr_last_error());
	ret = ret || nvme_attach(e, other) || bar_read_lands(e, "through the second IOAS's domain") ||
	      nvme_attach(e, e->ioas);
	if (ret)
		goto out;
	pattern_fill((uint64_t *)(e->bar_map + BAR_OFFSET), 64 << 10, 0x9001);

	CHECK_OK(vfio_set_memory_decode(e->bar_dev, false));
	ret = nvme_attach(e, other) ||
	      bar_read_dead(e, "through the second IOAS's domain after the revoke") ||
	      nvme_attach(e, e->ioas) ||
	      bar_read_dead(e, "through the first IOAS's domain after the revoke");
	vfio_set_memory_decode(e->bar_dev, true);
out:
	nvme_attach(e, e->ioas);
	/* The ivshmem leaves the second IOAS by closing; then it can go. */
	p2pmr_bar_munmap(e->bar_map, e->bar_map_len);
	e->bar_map = NULL;
	p2pmr_device_close(e->bar_dev);
	e->bar_dev = NULL;
	if (p2pmr_ioas_destroy(e->ictx, other) && !ret)
		ret = fail("destroying the second IOAS: %s", p2pmr_last_error());
	return ret;
}

/* A dma-buf of host memory: udmabuf over a memfd. */
static int udmabuf_new(size_t len, int *memfdp)
{
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = len };
	int memfd, dev, fd;

	memfd = memfd_create("nvme-dma-udmabuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, len) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -fail("memfd: %s", strerror(errno));
	dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		close(memfd);
		return -fail("/dev/udmabuf: %s", strerror(errno));
	}
	create.memfd = memfd;
	fd = ioctl(dev, UDMABUF_CREATE, &create);
	close(dev);
	if (fd < 0) {
		close(memfd);
		return -fail("UDMABUF_CREATE: %s", strerror(errno));
	}
	*memfdp = memfd;
	return fd;
}

/* dma-bufs the kernel cannot map: not vfio-pci's, or of two ranges. */
static int case_err_map_file_foreign(struct env *e)
{
	struct p2pmr_range two[2] = { { BAR_OFFSET, 4096 }, { BAR_OFFSET + 8192, 4096 } };
	uint64_t iova;
	int ret, memfd = -1, udmabuf, split;

	udmabuf = udmabuf_new(1 << 20, &memfd);
	if (udmabuf < 0)
		return 1;
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, udmabuf, 0, 4096, RW, &iova),
		     EOPNOTSUPP, "not a file the kernel can map",
		     "MAP_FILE of a udmabuf (a dma-buf, not vfio-pci's)");
	close(udmabuf);
	close(memfd);
	if (ret || bar_setup(e, false))
		return 1;
	if (p2pmr_dmabuf_export(e->bar_dev, e->o->bar, two, 2, &split))
		return fail("export of two ranges: %s", p2pmr_last_error());
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, split, 0, 4096, RW, &iova),
		     EOPNOTSUPP, "of one range", "MAP_FILE of a VFIO dma-buf of two ranges");
	close(split);
	return ret;
}

/* memfd errors: WRITEABLE without write access, a range past its end. */
static int case_err_map_file_memfd(struct env *e)
{
	char path[64];
	uint64_t iova;
	int ret, fd, ro;

	fd = memfd_create("nvme-dma", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 64 << 10))
		return fail("memfd: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		close(fd);
		return fail("%s: %s", path, strerror(errno));
	}
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, ro, 0, 4096, RW, &iova), EPERM,
		     "not open for writing", "MAP_FILE WRITEABLE of a memfd open read-only") ||
	      expect(p2pmr_ioas_map_file(e->ictx, e->ioas, fd, 60 << 10, 8192, RW, &iova), EINVAL,
		     "past the end", "MAP_FILE of a range past the memfd's end");
	if (!ret) {
		if (p2pmr_ioas_map_file(e->ictx, e->ioas, ro, 0, 4096, P2PMR_IOAS_MAP_READABLE,
					&iova))
			ret = fail("MAP_FILE READABLE of a memfd open read-only: %s",
				   p2pmr_last_error());
		else
			p2pmr_ioas_unmap(e->ictx, e->ioas, iova, 4096);
	}
	close(ro);
	close(fd);
	return ret;
}

/*
 * A BAR range exported read-only (open_flags O_RDONLY): WRITEABLE is
 * refused (EACCES), READABLE maps, and an NVMe WRITE from it, which only
 * reads the BAR, takes the BAR's bytes.
 */
static int case_map_file_readonly(struct env *e)
{
	const uint64_t len = 64 << 10, off = NS_WRITE_BASE + (6u << 20);
	uint8_t got[64 << 10];
	uint64_t iova;
	int ret, ro;

	ret = bar_setup(e, false);
	if (ret)
		return ret;
	ro = vfio_export_mode(e->bar_dev, e->o->bar, BAR_OFFSET, BAR_LENGTH, O_RDONLY | O_CLOEXEC);
	if (ro < 0)
		return fail("VFIO_DEVICE_FEATURE_DMA_BUF, O_RDONLY: %s", strerror(-ro));
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, ro, 0, BAR_LENGTH, RW, &iova), EACCES,
		     "not open for writing", "MAP_FILE WRITEABLE of a dma-buf exported read-only");
	if (!ret && p2pmr_ioas_map_file(e->ictx, e->ioas, ro, 0, BAR_LENGTH,
					P2PMR_IOAS_MAP_READABLE, &iova))
		ret = fail("MAP_FILE READABLE of a dma-buf exported read-only: %s",
			   p2pmr_last_error());
	if (!ret) {
		pattern_fill((uint64_t *)(e->bar_map + BAR_OFFSET), len, 0x8001);
		ret = nvme_ok(e, true, off, iova, len) || file_bytes(e->o->ns_file, off, got, len) ||
		      compare("the namespace file after NVMe WRITE from the read-only BAR mapping",
			      got, e->bar_map + BAR_OFFSET, len);
		p2pmr_ioas_unmap(e->ictx, e->ioas, iova, BAR_LENGTH);
	}
	if (!ret)
		printf("read-only dma-buf: WRITEABLE refused, READABLE mapped, NVMe WRITE from it takes the BAR's bytes\n");
	close(ro);
	return ret;
}

/* Unaligned requests: a FIXED_IOVA or a length that is not a whole page. */
static int case_err_map_file_unaligned(struct env *e)
{
	uint64_t iova = 0x10000200;
	int ret;

	ret = bar_setup(e, false);
	if (ret)
		return ret;
	ret = expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, 4096,
					 RW | P2PMR_IOAS_MAP_FIXED_IOVA, &iova),
		     EINVAL, "not aligned", "MAP_FILE at an unaligned FIXED_IOVA") ||
	      expect(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, 0x800, RW, &iova),
		     EINVAL, "not aligned", "MAP_FILE of half a page");
	return ret;
}

/* ---- stress: revokes racing DMA and mapping ------------------------------- */

#define STRESS_ROUNDS 12
#define MAP_RACE_SECONDS 5

enum stress_trigger { STRESS_DECODE, STRESS_RESET, STRESS_HOT_RESET, STRESS_TRIGGERS };
static const char *const stress_names[] = { "decode off", "VFIO reset", "hot reset" };

struct toggler {
	struct env *e;
	enum stress_trigger how;
	unsigned int delay_us;
	volatile int done;
	int err;
	/* map race */
	volatile int stop;
	unsigned long toggles;
};

static void *revoke_after_delay(void *arg)
{
	struct toggler *t = arg;

	usleep(t->delay_us);
	switch (t->how) {
	case STRESS_DECODE:
		t->err = vfio_set_memory_decode(t->e->bar_dev, false);
		break;
	case STRESS_RESET:
		t->err = vfio_reset(t->e->bar_dev);
		break;
	default:
		t->err = vfio_hot_reset(t->e->bar_dev);
		break;
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Decode on: after a reset too, whether or not the reset kept it. */
static int stress_restore(struct env *e)
{
	CHECK_OK(vfio_set_memory_decode(e->bar_dev, true));
	return 0;
}

/*
 * One round: READs into the BAR keep going (up to 8 in flight) until a
 * revoke, made from another thread after a random delay, returns; those in
 * flight finish; from then on not one byte lands. Then the BAR comes back
 * and is mapped again.
 */
static int stress_round(struct env *e, enum stress_trigger how, unsigned int seed,
			uint8_t *before, uint8_t *after)
{
	const uint64_t len = 64 << 10, slots = BAR_LENGTH / len;
	struct toggler t = { .e = e, .how = how, .delay_us = seed % 20000 };
	uint16_t cid[8], status;
	unsigned int inflight = 0, head = 0, submitted = 0, i;
	pthread_t thread;
	uint64_t iova;
	int ret;

	if (pthread_create(&thread, NULL, revoke_after_delay, &t))
		return fail("pthread_create: %s", strerror(errno));
	while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE) || inflight) {
		if (inflight == 8 || __atomic_load_n(&t.done, __ATOMIC_ACQUIRE)) {
			ret = nvme_wait(&e->nvme, cid[head], &status);
			if (ret && ret != EIO)
				return fail("READ into the BAR: %s", p2pmr_last_error());
			head = (head + 1) % 8;
			inflight--;
			continue;
		}
		if (nvme_submit_rw(&e->nvme, false, (submitted % slots) * len,
				   e->bar_iova + (submitted % slots) * len, len,
				   &cid[(head + inflight) % 8]))
			return fail("submit: %s", p2pmr_last_error());
		submitted++;
		inflight++;
	}
	pthread_join(thread, NULL);
	if (t.err)
		return fail("%s: %s", stress_names[how], strerror(-t.err));

	if (file_bytes(e->o->bar_file, BAR_OFFSET, before, BAR_LENGTH))
		return 1;
	for (i = 0; i < 4; i++) {
		ret = nvme_rw(&e->nvme, false, 0, e->bar_iova + i * (BAR_LENGTH / 4), len, &status);
		if (ret && ret != EIO)
			return fail("READ after the revoke: %s", p2pmr_last_error());
	}
	if (file_bytes(e->o->bar_file, BAR_OFFSET, after, BAR_LENGTH) ||
	    compare("the BAR's host file after the revoke", after, before, BAR_LENGTH))
		return 1;

	if (stress_restore(e) || p2pmr_ioas_unmap(e->ictx, e->ioas, e->bar_iova, BAR_LENGTH))
		return fail("bringing the BAR back: %s", p2pmr_last_error());
	iova = e->bar_iova;
	if (p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH,
				RW | P2PMR_IOAS_MAP_FIXED_IOVA, &iova))
		return fail("mapping again: %s", p2pmr_last_error());
	printf("round: %u READs, %s after %u us, none landed after it\n", submitted,
	       stress_names[how], t.delay_us);
	return 0;
}

static int case_stress_revoke(struct env *e)
{
	uint8_t *before = malloc(BAR_LENGTH), *after = malloc(BAR_LENGTH);
	unsigned int round, seed = 0x5eed;
	int ret;

	ret = !before || !after ? fail("out of memory") : bar_setup(e, true);
	for (round = 0; !ret && round < STRESS_ROUNDS; round++) {
		seed = seed * 1103515245 + 12345;
		ret = stress_round(e, round % STRESS_TRIGGERS, seed >> 8, before, after);
	}
	if (!ret)
		ret = bar_read_lands(e, "after the stress, mapped again");
	if (!ret)
		printf("%u rounds of READs into the BAR racing decode off, VFIO reset and hot reset\n",
		       STRESS_ROUNDS);
	free(before);
	free(after);
	return ret;
}

static void *toggle_decode(void *arg)
{
	struct toggler *t = arg;
	unsigned int seed = 0x70661e;

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		seed = seed * 1103515245 + 12345;
		t->err = vfio_set_memory_decode(t->e->bar_dev, t->toggles & 1);
		if (t->err)
			break;
		t->toggles++;
		usleep((seed >> 8) % 2000);
	}
	return NULL;
}

/*
 * MAP_FILE and unmap of the BAR's dma-buf in a loop while another thread
 * turns memory decode off and on: each map succeeds or fails with ENODEV,
 * including revokes that land between iommufd's attach and its first look
 * at the range; nothing else, no kernel report, no leak.
 */
static int case_stress_map_race(struct env *e)
{
	struct toggler t = { .e = e };
	unsigned long mapped = 0, revoked = 0;
	pthread_t thread;
	uint64_t iova;
	time_t end;
	int ret;

	ret = bar_setup(e, false);
	if (ret)
		return ret;
	if (pthread_create(&thread, NULL, toggle_decode, &t))
		return fail("pthread_create: %s", strerror(errno));
	end = time(NULL) + MAP_RACE_SECONDS;
	while (!ret && time(NULL) < end) {
		ret = p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH, RW, &iova);
		if (!ret) {
			mapped++;
			ret = p2pmr_ioas_unmap(e->ictx, e->ioas, iova, BAR_LENGTH);
			if (ret)
				ret = fail("unmap: %s", p2pmr_last_error());
		} else if (ret == ENODEV) {
			revoked++;
			ret = 0;
		} else {
			ret = fail("MAP_FILE racing decode toggles: %s", p2pmr_last_error());
		}
	}
	__atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	if (!ret && t.err)
		ret = fail("toggling decode: %s", strerror(-t.err));
	if (!ret && (!mapped || !revoked))
		ret = fail("%lu maps succeeded, %lu found the dma-buf revoked: the race was not hit both ways",
			   mapped, revoked);
	CHECK_OK(vfio_set_memory_decode(e->bar_dev, true));
	if (!ret) {
		printf("%lu decode toggles: %lu maps succeeded, %lu got ENODEV\n", t.toggles, mapped,
		       revoked);
		ret = map_file_result(p2pmr_ioas_map_file(e->ictx, e->ioas, e->dmabuf, 0, BAR_LENGTH,
							  RW, &e->bar_iova),
				      "MAP_FILE after the race") ||
		      bar_read_lands(e, "after the race");
	}
	return ret;
}

/* ---- main ----------------------------------------------------------------- */

struct tcase {
	const char *name;
	const char *desc;
	int (*fn)(struct env *e);
};

#define CASE(n, d, f) { n, d, f }
static const struct tcase cases[] = {
	CASE("identify", "the controller is p2pmr-dma, its namespace the size of its file", case_identify),
	CASE("read-4k", "READ 4 KiB (PRP1) into host memory: the namespace file's bytes", case_read_4k),
	CASE("read-8k", "READ 8 KiB (PRP1 + PRP2) into host memory: the file's bytes", case_read_8k),
	CASE("read-64k", "READ 64 KiB (PRP list) into host memory: the file's bytes", case_read_64k),
	CASE("read-1m", "READ 1 MiB (PRP list of 255) into host memory: the file's bytes", case_read_1m),
	CASE("read-max", "READ the largest command (chained PRP lists) into host memory: the file's bytes", case_read_max),
	CASE("write-4k", "WRITE 4 KiB from host memory: in the namespace file", case_write_4k),
	CASE("write-64k", "WRITE 64 KiB (PRP list) from host memory: in the namespace file", case_write_64k),
	CASE("write-1m", "WRITE 1 MiB (PRP list) from host memory: in the namespace file", case_write_1m),
	CASE("write-max", "WRITE the largest command (chained PRP lists): in the namespace file", case_write_max),
	CASE("queue-full", "31 READs in flight at once each land in their place", case_queue_full),
	CASE("unmapped-iova", "READ into an IOVA nothing maps faults in the IOMMU", case_unmapped_iova),
	CASE("read-only-mapping", "READ into a mapping without WRITEABLE faults in the IOMMU, the memory untouched", case_read_only_mapping),
	CASE("err-open-unpriv", "p2pmr_iommufd_open() without the rights to /dev/iommu: EACCES", case_err_open_unpriv),
	CASE("err-close-busy", "p2pmr_iommufd_close() with a device bound: EBUSY", case_err_close_busy),
	CASE("err-destroy-unknown", "p2pmr_ioas_destroy() of an unknown id: ENOENT", case_err_destroy_unknown),
	CASE("err-destroy-attached", "p2pmr_ioas_destroy() of an IOAS in use: EBUSY", case_err_destroy_attached),
	CASE("err-map-flags", "unknown flags, no READABLE/WRITEABLE, length 0, NULL iovap: EINVAL", case_err_map_flags),
	CASE("err-map-no-ioas", "p2pmr_ioas_map() into an unknown IOAS: ENOENT", case_err_map_no_ioas),
	CASE("err-map-iova-in-use", "FIXED_IOVA over a mapped range: EEXIST", case_err_map_iova_in_use),
	CASE("err-map-unaligned", "FIXED_IOVA not page aligned: EINVAL", case_err_map_unaligned),
	CASE("err-map-efault", "p2pmr_ioas_map() of unmapped memory: EFAULT", case_err_map_efault),
	CASE("err-map-overflow", "an IOVA range wrapping past 2^64: EOVERFLOW", case_err_map_overflow),
	CASE("err-map-nospace", "a mapping larger than the usable IOVA space: ENOSPC", case_err_map_nospace),
	CASE("err-unmap", "unmap of half a mapping or of nothing: ENOENT; length 0: EINVAL", case_err_unmap),
	CASE("err-bind", "bind of a malformed address: EINVAL; of a missing or non-VFIO device: ENODEV", case_err_bind),
	CASE("err-bind-twice", "binding a bound device again: EINVAL", case_err_bind_twice),
	CASE("err-attach", "attach to an unknown IOAS: ENOENT; of a device with its own iommufd: EINVAL", case_err_attach),
	CASE("memfd-read", "READ 1 MiB into a memfd mapped by MAP_FILE: the memfd holds the file's bytes", case_memfd_read),
	CASE("memfd-write", "WRITE 1 MiB from a memfd mapped READABLE by MAP_FILE: in the namespace file", case_memfd_write),
	CASE("bar-read-4k", "READ 4 KiB into the BAR's dma-buf IOVA: in the ivshmem host file", case_bar_read_4k),
	CASE("bar-read-64k", "READ 64 KiB (PRP list) into the BAR: in the ivshmem host file", case_bar_read_64k),
	CASE("bar-read-1m", "READ 1 MiB (PRP list) into the BAR: in the ivshmem host file", case_bar_read_1m),
	CASE("bar-write-4k", "WRITE 4 KiB from the BAR's IOVA: the namespace file holds the BAR's bytes", case_bar_write_4k),
	CASE("bar-write-64k", "WRITE 64 KiB (PRP list) from the BAR: in the namespace file", case_bar_write_64k),
	CASE("bar-write-1m", "WRITE 1 MiB (PRP list) from the BAR: in the namespace file", case_bar_write_1m),
	CASE("bar-revoke", "revoke with READs into the BAR in flight: no byte lands after, the IOMMU faults; mapped again it works", case_bar_revoke),
	CASE("bar-revoke-domains", "revoke takes the BAR out of every domain: a second IOAS (IOMMU_IOAS_COPY, its own domain) reaches nothing after it", case_bar_revoke_domains),
	CASE("bar-revoke-hot-reset", "revoke by VFIO_DEVICE_PCI_HOT_RESET: no byte lands after the reset, decode on again; mapped again it works", case_bar_revoke_hot_reset),
	CASE("bar-revoke-reset", "revoke by VFIO_DEVICE_RESET: no byte lands after the reset; mapped again it works", case_bar_revoke_reset),
	CASE("bar-revoke-close", "revoke by closing the BAR's device: no byte lands; its dma-buf cannot be mapped again (ENODEV)", case_bar_revoke_close),
	CASE("stress-revoke", "READs into the BAR racing decode off, VFIO reset and hot reset at random moments: no byte lands after any revoke", case_stress_revoke),
	CASE("stress-map-race", "MAP_FILE and unmap racing decode toggles: success or ENODEV only, then the BAR maps and works", case_stress_map_race),
	CASE("err-map-file", "MAP_FILE errors: closed fd, IOVA in use, unaligned offset, past the end, not a memfd, revoked", case_err_map_file),
	CASE("err-map-file-foreign", "MAP_FILE of a udmabuf or of a VFIO dma-buf of two ranges: EOPNOTSUPP", case_err_map_file_foreign),
	CASE("err-map-file-memfd", "MAP_FILE WRITEABLE of a memfd open read-only: EPERM; past its end: EINVAL", case_err_map_file_memfd),
	CASE("map-file-readonly", "a dma-buf exported O_RDONLY: WRITEABLE refused (EACCES), READABLE maps and NVMe WRITE reads the BAR", case_map_file_readonly),
	CASE("err-map-file-unaligned", "MAP_FILE at an unaligned FIXED_IOVA or of half a page: EINVAL", case_err_map_file_unaligned),
};

static void usage(FILE *out)
{
	fprintf(out, "usage: nvme-dma-test --list\n"
		     "       nvme-dma-test CASE|all --nvme PCI --ns-file PATH [--bar-pci PCI --bar N --bar-file PATH] [--other PCI]\n");
}

static int parse(struct opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "nvme", required_argument, NULL, 'n' },
		{ "ns-file", required_argument, NULL, 'f' },
		{ "bar-pci", required_argument, NULL, 'p' },
		{ "bar", required_argument, NULL, 'b' },
		{ "bar-file", required_argument, NULL, 'F' },
		{ "other", required_argument, NULL, 'o' },
		{ 0 }
	};
	char *end;
	int c;

	*o = (struct opts){ .bar = -1 };
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->nvme = optarg; break;
		case 'f': o->ns_file = optarg; break;
		case 'p': o->bar_pci = optarg; break;
		case 'F': o->bar_file = optarg; break;
		case 'o': o->other = optarg; break;
		case 'b':
			o->bar = strtol(optarg, &end, 0);
			if (*end || o->bar < 0 || o->bar >= P2PMR_MAX_BARS) {
				fprintf(stderr, "nvme-dma-test: --bar '%s' is not 0 to 5\n", optarg);
				return 2;
			}
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o->nvme || !o->ns_file) {
		fprintf(stderr, "nvme-dma-test: --nvme and --ns-file are needed\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* Undo bar_setup() so that the next case starts without the BAR. */
static void bar_teardown(struct env *e)
{
	if (e->bar_iova) {
		p2pmr_ioas_unmap(e->ictx, e->ioas, e->bar_iova, BAR_LENGTH);
		e->bar_iova = 0;
	}
	if (e->bar_map)
		p2pmr_bar_munmap(e->bar_map, e->bar_map_len);
	e->bar_map = NULL;
	if (e->dmabuf >= 0)
		close(e->dmabuf);
	e->dmabuf = -1;
	p2pmr_device_close(e->bar_dev);
	e->bar_dev = NULL;
}

/*
 * "all": every case in turn on one open controller (binding and resetting
 * the devices for each case would take most of the time), TAP on standard
 * output, the cases' own lines on standard error.
 */
static int run_all(struct env *e)
{
	FILE *tap;
	size_t i;
	int ret, failed = 0;

	fflush(stdout);
	tap = fdopen(dup(STDOUT_FILENO), "w");
	if (!tap || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		return fail("nvme-dma-test: cannot set up TAP output: %s", strerror(errno));
	for (i = 0; i < CASES_COUNT(cases); i++) {
		fprintf(stderr, "--- %s: %s\n", cases[i].name, cases[i].desc);
		ret = cases[i].fn(e);
		fflush(stdout);
		bar_teardown(e);
		fprintf(tap, "%sok %zu - %s\n", ret ? "not " : "", i + 1, cases[i].desc);
		fflush(tap);
		failed += !!ret;
	}
	fprintf(tap, "1..%zu\n", CASES_COUNT(cases));
	fclose(tap);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct tcase *tc = NULL;
	struct env e = { .dmabuf = -1 };
	struct opts o;
	struct stat st;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		CASES_PRINT(cases);
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "all")) {
		tc = CASES_FIND(cases, argv[1]);
		if (!tc) {
			fprintf(stderr, "nvme-dma-test: no case '%s' (--list)\n", argv[1]);
			return 2;
		}
	}
	ret = parse(&o, argc - 1, argv + 1);
	if (ret)
		return ret;
	if (stat(o.ns_file, &st)) {
		fprintf(stderr, "nvme-dma-test: --ns-file %s: %s\n", o.ns_file, strerror(errno));
		return 2;
	}
	e.o = &o;
	e.ns_size = st.st_size;

	if (p2pmr_iommufd_open(&e.ictx) || p2pmr_ioas_alloc(e.ictx, &e.ioas)) {
		fprintf(stderr, "nvme-dma-test: %s\n", p2pmr_last_error());
		return 1;
	}
	if (nvme_open(&e.nvme, o.nvme, e.ictx, e.ioas, TIMEOUT_MS)) {
		fprintf(stderr, "nvme-dma-test: NVMe %s: %s\n", o.nvme, p2pmr_last_error());
		ret = 1;
	} else {
		ret = tc ? tc->fn(&e) : run_all(&e);
	}
	nvme_close(&e.nvme);
	bar_teardown(&e);
	if (p2pmr_iommufd_close(e.ictx)) {
		fprintf(stderr, "nvme-dma-test: %s\n", p2pmr_last_error());
		ret = ret ? ret : 1;
	}
	return ret;
}
