// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Opening a PCI device that is bound to vfio-pci, through either VFIO
 * userspace API, and describing and mapping its BARs.
 *
 * cdev API:  /dev/vfio/devices/vfioN, bound to a fresh /dev/iommu context
 *            and attached to a new IOAS (so the device may do DMA).
 * group API: /dev/vfio/<group> (or noiommu-<group>) in a new container
 *            with the type1v2 (or no-IOMMU) backend.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

#define SYSFS_PCI "/sys/bus/pci/devices"

/* Bits of the flags column of sysfs "resource" (include/linux/ioport.h). */
#define IORESOURCE_IO		0x00000100
#define IORESOURCE_MEM		0x00000200
#define IORESOURCE_PREFETCH	0x00002000
#define IORESOURCE_MEM_64	0x00100000

const char *p2pmr_vfio_api_name(enum p2pmr_vfio_api api)
{
	switch (api) {
	case P2PMR_VFIO_API_AUTO:
		return "auto";
	case P2PMR_VFIO_API_CDEV:
		return "cdev";
	case P2PMR_VFIO_API_GROUP:
		return "group";
	}
	return "unknown";
}

/* Accept "0000:00:03.0" and "00:03.0"; write the canonical form. */
int p2pmr_canonical_pci_addr(const char *in, char *out, size_t len)
{
	unsigned int domain, bus, slot, func;
	bool parsed;
	char tail;

	parsed = sscanf(in, "%x:%x:%x.%x%c", &domain, &bus, &slot, &func, &tail) == 4;
	if (!parsed) {
		domain = 0;
		parsed = sscanf(in, "%x:%x.%x%c", &bus, &slot, &func, &tail) == 3;
	}
	if (!parsed)
		return p2pmr_set_error(EINVAL, "'%s' is not a PCI address (want DDDD:BB:SS.F)", in);
	if (domain > 0xffff || bus > 0xff || slot > 0x1f || func > 7)
		return p2pmr_set_error(EINVAL, "'%s' is not a PCI address (out of range)", in);
	snprintf(out, len, "%04x:%02x:%02x.%x", domain, bus, slot, func);
	return 0;
}

/* The device must exist and be bound to vfio-pci; say how to get there. */
int p2pmr_check_vfio_bound(const char *addr)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *driver;
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s", addr);
	if (access(path, F_OK))
		return p2pmr_set_error(ENODEV, "no PCI device %s (see lspci -D)", addr);
	snprintf(path, sizeof(path), SYSFS_PCI "/%s/driver", addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		driver = "no driver";
	} else {
		link[n] = '\0';
		driver = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		if (!strcmp(driver, "vfio-pci"))
			return 0;
	}
	return p2pmr_set_error(ENODEV,
			       "%s is bound to %s, not vfio-pci; bind it with: echo vfio-pci > "
			       SYSFS_PCI "/%s/driver_override; echo %s > " SYSFS_PCI
			       "/%s/driver/unbind; echo %s > /sys/bus/pci/drivers_probe",
			       addr, driver, addr, addr, addr, addr);
}

/* Open a VFIO or iommufd node into *fdp: 0 or an errno, with the message. */
int p2pmr_open_node(const char *path, int *fdp)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		*fdp = fd;
		return 0;
	}
	switch (errno) {
	case EACCES:
	case EPERM:
		return p2pmr_set_error(errno, "cannot open %s: run as root or give this user access to it",
				       path);
	case EBUSY:
		return p2pmr_set_error(errno, "%s is in use by another process", path);
	default:
		return p2pmr_set_error(errno, "cannot open %s", path);
	}
}

/*
 * The device's cdev, /dev/vfio/devices/vfioN, into @path: 0, EOPNOTSUPP
 * when the kernel has no cdevs, ENODEV when sysfs names none. A device in
 * no-IOMMU mode is named in sysfs but gets no /dev node (the cdev API does
 * not serve such devices): the caller checks that the node exists.
 */
static int cdev_path(const char *addr, char *path, size_t len)
{
	char dirpath[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *dir;

	snprintf(dirpath, sizeof(dirpath), SYSFS_PCI "/%s/vfio-dev", addr);
	dir = opendir(dirpath);
	if (!dir)
		return EOPNOTSUPP;
	while (!found && (de = readdir(dir))) {
		if (!strncmp(de->d_name, "vfio", 4)) {
			snprintf(path, len, "/dev/vfio/devices/%s", de->d_name);
			found = true;
		}
	}
	closedir(dir);
	return found ? 0 : ENODEV;
}

/*
 * Open the device cdev of dev->pci_addr (/dev/vfio/devices/vfioN, found
 * under /sys/bus/pci/devices/ADDR/vfio-dev/) into dev->device_fd and bind
 * it to @iommufd: 0 or an errno, with the message.
 */
int p2pmr_cdev_open_bind(struct p2pmr_device *dev, int iommufd)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .flags = 0 };
	char path[PATH_MAX];
	int ret;

	ret = cdev_path(dev->pci_addr, path, sizeof(path));
	if (ret == EOPNOTSUPP)
		return p2pmr_set_error(EOPNOTSUPP,
				       "%s has no VFIO device cdev (kernel without CONFIG_VFIO_DEVICE_CDEV?); use the group API",
				       dev->pci_addr);
	if (ret)
		return p2pmr_set_error(ENODEV, "no vfioN entry under " SYSFS_PCI "/%s/vfio-dev",
				       dev->pci_addr);
	ret = p2pmr_open_node(path, &dev->device_fd);
	if (ret)
		return ret;

	bind.iommufd = iommufd;
	if (ioctl(dev->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		if (errno == EINVAL)
			return p2pmr_set_error(errno,
					       "VFIO_DEVICE_BIND_IOMMUFD of %s (%s): the device is bound already (through another open of its cdev)",
					       dev->pci_addr, path);
		return p2pmr_set_error(errno, "VFIO_DEVICE_BIND_IOMMUFD of %s (%s) failed",
				       dev->pci_addr, path);
	}
	dev->iommufd_devid = bind.out_devid;
	return 0;
}

static int open_cdev(struct p2pmr_device *dev)
{
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	int ret;

	ret = p2pmr_open_node("/dev/iommu", &dev->iommufd);
	if (!ret)
		ret = p2pmr_cdev_open_bind(dev, dev->iommufd);
	if (ret)
		return ret;
	if (ioctl(dev->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		return p2pmr_set_error(errno, "IOMMU_IOAS_ALLOC failed");
	attach.pt_id = ioas.out_ioas_id;
	if (ioctl(dev->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return p2pmr_set_error(errno, "attaching %s to an IOMMU address space failed",
				       dev->pci_addr);
	return 0;
}

static int open_group(struct p2pmr_device *dev)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX], link[PATH_MAX];
	const char *group;
	bool noiommu = false;
	int type, fd, ret;
	ssize_t n;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/iommu_group", dev->pci_addr);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return p2pmr_set_error(ENODEV, "%s has no IOMMU group (IOMMU off and no-IOMMU mode not enabled)",
				       dev->pci_addr);
	link[n] = '\0';
	group = strrchr(link, '/') + 1;

	ret = p2pmr_open_node("/dev/vfio/vfio", &dev->container_fd);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	if (access(path, F_OK)) {
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", group);
		noiommu = true;
	}
	ret = p2pmr_open_node(path, &dev->group_fd);
	if (ret)
		return ret;

	if (ioctl(dev->group_fd, VFIO_GROUP_GET_STATUS, &status))
		return p2pmr_set_error(errno, "VFIO_GROUP_GET_STATUS on %s failed", path);
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return p2pmr_set_error(EBUSY,
				       "IOMMU group %s is not viable: bind every device of /sys/kernel/iommu_groups/%s/devices to vfio-pci",
				       group, group);
	if (ioctl(dev->group_fd, VFIO_GROUP_SET_CONTAINER, &dev->container_fd))
		return p2pmr_set_error(errno, "VFIO_GROUP_SET_CONTAINER failed");
	type = noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
	if (ioctl(dev->container_fd, VFIO_SET_IOMMU, type))
		return p2pmr_set_error(errno, "VFIO_SET_IOMMU(%s) failed",
				       noiommu ? "no-IOMMU" : "type1v2");
	fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, dev->pci_addr);
	if (fd < 0)
		return p2pmr_set_error(errno, "VFIO_GROUP_GET_DEVICE_FD(%s) failed", dev->pci_addr);
	dev->device_fd = fd;
	return 0;
}

/* The cdev API can serve @addr: its node exists, and /dev/iommu. */
static bool have_cdev(const char *addr)
{
	char path[PATH_MAX];

	return !cdev_path(addr, path, sizeof(path)) && !access(path, F_OK) &&
	       !access("/dev/iommu", F_OK);
}

/*
 * A device handle for @pci_addr with nothing open yet, once the address is
 * well formed and the device bound to vfio-pci: 0 or an errno, with the
 * message. p2pmr_device_close() frees it.
 */
int p2pmr_device_new(const char *pci_addr, struct p2pmr_device **devp)
{
	struct p2pmr_device *dev;
	int ret;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return p2pmr_set_error(ENOMEM, "out of memory");
	dev->device_fd = dev->group_fd = dev->container_fd = dev->iommufd = -1;

	ret = p2pmr_canonical_pci_addr(pci_addr, dev->pci_addr, sizeof(dev->pci_addr));
	if (!ret)
		ret = p2pmr_check_vfio_bound(dev->pci_addr);
	if (ret) {
		p2pmr_device_close(dev);
		return ret;
	}
	*devp = dev;
	return 0;
}

/**
 * p2pmr_device_open() - open a PCI device bound to vfio-pci
 * @pci_addr: PCI address, "0000:00:03.0" or "00:03.0"
 * @api: which VFIO API to use; AUTO prefers the cdev
 * @devp: the open device on success
 *
 * Return: 0, or an errno: EINVAL for a malformed address, ENODEV for no
 * such device or one not bound to vfio-pci, EACCES without the rights to
 * the VFIO nodes, EBUSY if another process holds the device.
 */
int p2pmr_device_open(const char *pci_addr, enum p2pmr_vfio_api api,
		      struct p2pmr_device **devp)
{
	struct p2pmr_device *dev;
	int ret;

	p2pmr_clear_error();
	ret = p2pmr_device_new(pci_addr, &dev);
	if (ret)
		return ret;

	if (api == P2PMR_VFIO_API_AUTO)
		api = have_cdev(dev->pci_addr) ? P2PMR_VFIO_API_CDEV : P2PMR_VFIO_API_GROUP;
	dev->api = api;
	switch (api) {
	case P2PMR_VFIO_API_CDEV:
		ret = open_cdev(dev);
		break;
	case P2PMR_VFIO_API_GROUP:
		ret = open_group(dev);
		break;
	default:
		ret = p2pmr_set_error(EINVAL, "unknown VFIO API %d", api);
	}
	if (ret)
		goto err;
	*devp = dev;
	return 0;
err:
	p2pmr_device_close(dev);
	return ret;
}

void p2pmr_device_close(struct p2pmr_device *dev)
{
	if (!dev)
		return;
	/* The device first: the group and container must outlive it. */
	if (dev->device_fd >= 0)
		close(dev->device_fd);
	if (dev->ictx)
		p2pmr_iommufd_put(dev->ictx);
	if (dev->iommufd >= 0)
		close(dev->iommufd);
	if (dev->group_fd >= 0)
		close(dev->group_fd);
	if (dev->container_fd >= 0)
		close(dev->container_fd);
	free(dev);
}

int p2pmr_device_fd(const struct p2pmr_device *dev)
{
	return dev->device_fd;
}

enum p2pmr_vfio_api p2pmr_device_api(const struct p2pmr_device *dev)
{
	return dev->api;
}

const char *p2pmr_device_pci_addr(const struct p2pmr_device *dev)
{
	return dev->pci_addr;
}

/* Flags of one BAR from the sysfs "resource" file (one line per resource). */
static unsigned long sysfs_bar_flags(const char *addr, unsigned int bar)
{
	unsigned long long start, end, flags = 0;
	char path[PATH_MAX];
	unsigned int i;
	FILE *f;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/resource", addr);
	f = fopen(path, "re");
	if (!f)
		return 0;
	for (i = 0; i <= bar; i++)
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
			flags = 0;
	fclose(f);
	return flags;
}

/**
 * p2pmr_device_bar_info() - describe BAR @bar (0..5) of @dev
 *
 * Return: 0 with @info filled (size 0: not implemented), or EINVAL for a
 * BAR index above 5, or the errno of VFIO_DEVICE_GET_REGION_INFO.
 */
int p2pmr_device_bar_info(struct p2pmr_device *dev, unsigned int bar,
			  struct p2pmr_bar_info *info)
{
	struct vfio_region_info region = { .argsz = sizeof(region) };
	unsigned long flags;

	p2pmr_clear_error();
	if (bar >= P2PMR_MAX_BARS)
		return p2pmr_set_error(EINVAL, "BAR %u does not exist: PCI BARs are 0 to 5", bar);
	region.index = VFIO_PCI_BAR0_REGION_INDEX + bar;
	if (ioctl(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &region))
		return p2pmr_set_error(errno, "VFIO_DEVICE_GET_REGION_INFO(BAR %u) of %s failed",
				       bar, dev->pci_addr);
	flags = sysfs_bar_flags(dev->pci_addr, bar);
	*info = (struct p2pmr_bar_info) {
		.index = bar,
		.size = region.size,
		.region_offset = region.offset,
		.is_memory = flags & IORESOURCE_MEM,
		.is_64bit = flags & IORESOURCE_MEM_64,
		.is_prefetchable = flags & IORESOURCE_PREFETCH,
		.can_mmap = region.flags & VFIO_REGION_INFO_FLAG_MMAP,
	};
	return 0;
}

/**
 * p2pmr_bar_mmap() - map all of memory BAR @bar of @dev into this process
 * @addrp: the mapping on success
 * @lenp: its length (the BAR size)
 *
 * Return: 0, or ENOENT for a BAR that is not implemented, EINVAL for an
 * I/O BAR, EOPNOTSUPP if VFIO does not allow mmap of it, or mmap's errno.
 */
int p2pmr_bar_mmap(struct p2pmr_device *dev, unsigned int bar, void **addrp,
		   size_t *lenp)
{
	struct p2pmr_bar_info info;
	void *addr;
	int ret;

	ret = p2pmr_device_bar_info(dev, bar, &info);
	if (ret)
		return ret;
	if (!info.size)
		return p2pmr_set_error(ENOENT, "BAR %u of %s is not implemented", bar, dev->pci_addr);
	if (!info.is_memory)
		return p2pmr_set_error(EINVAL, "BAR %u of %s is an I/O BAR, not memory", bar,
				       dev->pci_addr);
	if (!info.can_mmap)
		return p2pmr_set_error(EOPNOTSUPP, "VFIO does not allow mmap of BAR %u of %s", bar,
				       dev->pci_addr);
	addr = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->device_fd,
		    info.region_offset);
	if (addr == MAP_FAILED)
		return p2pmr_set_error(errno, "mmap of BAR %u of %s failed", bar, dev->pci_addr);
	*addrp = addr;
	*lenp = info.size;
	return 0;
}

int p2pmr_bar_munmap(void *addr, size_t len)
{
	p2pmr_clear_error();
	if (munmap(addr, len))
		return p2pmr_set_error(errno, "munmap of a BAR mapping failed");
	return 0;
}
