// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Config space, power and reset of a VFIO device, for the C tests. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "vfio_ctl.h"

int vfio_config_rw(struct p2pmr_device *dev, bool write, unsigned int pos, void *val,
		   size_t len)
{
	struct vfio_region_info ri = {
		.argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	int fd = p2pmr_device_fd(dev);
	ssize_t n;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	n = write ? pwrite(fd, val, len, ri.offset + pos) : pread(fd, val, len, ri.offset + pos);
	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

int vfio_set_memory_decode(struct p2pmr_device *dev, bool on)
{
	uint16_t cmd;
	int ret = vfio_config_rw(dev, false, PCI_COMMAND, &cmd, 2);

	if (ret)
		return ret;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	return vfio_config_rw(dev, true, PCI_COMMAND, &cmd, 2);
}

unsigned int vfio_find_pm_cap(struct p2pmr_device *dev)
{
	uint8_t pos = 0, id = 0;
	int hops = 48;

	if (vfio_config_rw(dev, false, PCI_CAPABILITY_LIST, &pos, 1))
		return 0;
	while (pos && hops--) {
		if (vfio_config_rw(dev, false, pos, &id, 1))
			return 0;
		if (id == PCI_CAP_ID_PM)
			return pos;
		if (vfio_config_rw(dev, false, pos + 1, &pos, 1))
			return 0;
	}
	return 0;
}

int vfio_set_power_state(struct p2pmr_device *dev, unsigned int state)
{
	unsigned int pm = vfio_find_pm_cap(dev);
	uint16_t pmcsr;
	int ret;

	if (!pm)
		return -ENOTSUP;
	ret = vfio_config_rw(dev, false, pm + PCI_PM_CTRL, &pmcsr, 2);
	if (ret)
		return ret;
	pmcsr = (pmcsr & ~PCI_PM_CTRL_STATE_MASK) | state;
	ret = vfio_config_rw(dev, true, pm + PCI_PM_CTRL, &pmcsr, 2);
	usleep(20000);	/* D3hot -> D0 needs 10 ms; vfio waits, be safe */
	return ret;
}

int vfio_reset(struct p2pmr_device *dev)
{
	return ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_RESET) ? -errno : 0;
}

int vfio_hot_reset(struct p2pmr_device *dev)
{
	struct vfio_pci_hot_reset reset = { .argsz = sizeof(reset), .count = 0 };

	return ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_PCI_HOT_RESET, &reset) ? -errno : 0;
}

int host_file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, off);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

int vfio_export_mode(struct p2pmr_device *dev, unsigned int bar, uint64_t offset, uint64_t len,
		     uint32_t open_flags)
{
	union {
		struct vfio_device_feature hdr;
		uint8_t bytes[sizeof(struct vfio_device_feature) +
			      sizeof(struct vfio_device_feature_dma_buf) +
			      sizeof(struct vfio_region_dma_range)];
		uint64_t align;
	} req = { .hdr = {
		.argsz = sizeof(req),
		.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF,
	} };
	struct vfio_device_feature_dma_buf *get = (void *)req.hdr.data;
	int fd;

	get->region_index = bar;
	get->open_flags = open_flags;
	get->nr_ranges = 1;
	get->dma_ranges[0].offset = offset;
	get->dma_ranges[0].length = len;
	fd = ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_FEATURE, &req);
	return fd < 0 ? -errno : fd;
}
