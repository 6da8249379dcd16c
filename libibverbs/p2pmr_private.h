/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Internal helpers of libp2pmr; not installed. */
#ifndef P2PMR_PRIVATE_H
#define P2PMR_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "p2pmr.h"

struct p2pmr_device {
	char pci_addr[16];		/* canonical: 0000:00:03.0 */
	enum p2pmr_vfio_api api;
	int device_fd;
	int group_fd;			/* group API */
	int container_fd;		/* group API */
	int iommufd;			/* cdev API, p2pmr_device_open(): its own */
	/* cdev API, p2pmr_device_bind_iommufd(): the shared iommufd (a reference) */
	struct p2pmr_iommufd *ictx;
	uint32_t iommufd_devid;		/* cdev API: the kernel's id of the binding */
};

/* vfio_device.c: the pieces p2pmr_device_open() and iommufd.c share. */
int p2pmr_canonical_pci_addr(const char *in, char *out, size_t len);
int p2pmr_check_vfio_bound(const char *addr);
int p2pmr_open_node(const char *path, int *fdp);
int p2pmr_device_new(const char *pci_addr, struct p2pmr_device **devp);
int p2pmr_cdev_open_bind(struct p2pmr_device *dev, int iommufd);

/* iommufd.c: a device bound to @ictx drops its reference when it closes. */
void p2pmr_iommufd_put(struct p2pmr_iommufd *ictx);

/*
 * Every entry point starts with a clean message; a failure path then reads
 * return p2pmr_set_error(ENODEV, "no PCI device %s", addr);
 */
void p2pmr_clear_error(void);

/*
 * Flush access (Linux 6.2, IB_UVERBS_ACCESS_FLUSH_*): rdma-core 47 names
 * them IBV_ACCESS_FLUSH_GLOBAL and _PERSISTENT, rdma-core 44 not at all.
 */
#define P2PMR_ACCESS_FLUSH_GLOBAL	(1 << 8)
#define P2PMR_ACCESS_FLUSH_PERSISTENT	(1 << 9)

/* Access bits a dma-buf MR cannot have: 0, or EINVAL with a message. */
int p2pmr_check_dmabuf_mr_access(int access);
/*
 * After the kernel or the provider refused a dma-buf MR with err: find out
 * which argument was wrong, record the message and return err.
 */
int p2pmr_explain_dmabuf_mr(int err, uint64_t offset, uint64_t length, uint64_t iova,
			    int fd, int access);

#endif /* P2PMR_PRIVATE_H */
