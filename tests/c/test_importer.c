// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "test_importer.h"

static int ret_errno(int ret)
{
	return ret < 0 ? -errno : ret;
}

int ti_open(void)
{
	return ret_errno(open(TEST_IMPORTER_DEV, O_RDWR | O_CLOEXEC));
}

int ti_attach(int ti, int dmabuf_fd, const char *pci_addr)
{
	return ti_attach_flags(ti, dmabuf_fd, pci_addr, 0);
}

int ti_attach_flags(int ti, int dmabuf_fd, const char *pci_addr, uint32_t flags)
{
	struct dma_buf_ti_attach a = { .fd = dmabuf_fd, .flags = flags };
	unsigned int domain, bus, slot, func;

	if (pci_addr) {
		if (sscanf(pci_addr, "%x:%x:%x.%x", &domain, &bus, &slot, &func) != 4)
			return -EINVAL;
		a.flags |= DMA_BUF_TI_ATTACH_PCI_DEV;
		a.pci_domain = domain;
		a.pci_bus = bus;
		a.pci_devfn = (slot << 3) | func;
	}
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_ATTACH, &a));
}

int ti_detach(int ti)
{
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_DETACH));
}

int ti_map(int ti, struct dma_buf_ti_seg *segs, uint32_t max_segs, uint32_t *nr_segs)
{
	struct dma_buf_ti_map m = {
		.dir = DMA_BUF_TI_DIR_BIDIRECTIONAL,
		.nr_segs = max_segs,
		.segs = (uintptr_t)segs,
	};
	int ret = ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_MAP, &m));

	if (!ret && nr_segs)
		*nr_segs = m.nr_segs;
	return ret;
}

int ti_unmap(int ti)
{
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_UNMAP));
}

int ti_vmap(int ti)
{
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_VMAP));
}

int ti_vunmap(int ti)
{
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_VUNMAP));
}

int ti_read(int ti, uint64_t offset, void *buf, size_t len)
{
	struct dma_buf_ti_rw rw = { .offset = offset, .len = len, .buf = (uintptr_t)buf };

	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_READ, &rw));
}

int ti_write(int ti, uint64_t offset, const void *buf, size_t len)
{
	struct dma_buf_ti_rw rw = { .offset = offset, .len = len, .buf = (uintptr_t)buf };

	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_WRITE, &rw));
}

int ti_status(int ti, struct dma_buf_ti_status *st)
{
	return ret_errno(ioctl(ti, DMA_BUF_TI_IOCTL_STATUS, st));
}
