/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libp2pmr: RDMA memory regions over PCI device memory (BARs) owned by a
 * userspace driver through VFIO; libp2pmr(7) is the overview.
 *
 * Conventions, those of libibverbs: calls shaped like verbs behave like
 * verbs.
 *  - A call that can fail and returns a pointer returns NULL with errno
 *    set on failure (as ibv_reg_mr()).
 *  - A call that can fail and returns int returns 0 on success or a
 *    positive errno value (as ibv_dereg_mr() and ibv_modify_qp()).
 *    (Accessors that cannot fail return what they name: p2pmr_device_fd().)
 *  - A predicate returns bool, true for yes (p2pmr_dmabuf_supported()).
 *  - Every failure leaves a message for the calling thread in
 *    p2pmr_last_error(): it names the cause and, where there is one, the
 *    fix. Code built on libp2pmr records its own failures there with
 *    p2pmr_set_error(), so that one message tells a whole call chain.
 */
#ifndef P2PMR_H
#define P2PMR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How to open a VFIO device. */
enum p2pmr_vfio_api {
	/* The device cdev with iommufd when the kernel has it, else the group. */
	P2PMR_VFIO_API_AUTO = 0,
	/* /dev/vfio/devices/vfioN bound to /dev/iommu (Linux 6.6 and later). */
	P2PMR_VFIO_API_CDEV,
	/* /dev/vfio/<group> in a type1 (or no-IOMMU) container. */
	P2PMR_VFIO_API_GROUP,
};

/** An open VFIO PCI device. */
struct p2pmr_device;

/** What a PCI BAR is, from VFIO and sysfs. */
struct p2pmr_bar_info {
	unsigned int index;	/* 0..5 */
	uint64_t size;		/* 0: the BAR is not implemented */
	uint64_t region_offset;	/* offset of the region in the device fd */
	bool is_memory;		/* a memory BAR (not I/O) */
	bool is_64bit;
	bool is_prefetchable;
	bool can_mmap;		/* VFIO lets userspace mmap it */
};

#define P2PMR_MAX_BARS 6

int p2pmr_device_open(const char *pci_addr, enum p2pmr_vfio_api api,
		      struct p2pmr_device **devp);
void p2pmr_device_close(struct p2pmr_device *dev);

int p2pmr_device_fd(const struct p2pmr_device *dev);
enum p2pmr_vfio_api p2pmr_device_api(const struct p2pmr_device *dev);
const char *p2pmr_device_pci_addr(const struct p2pmr_device *dev);

int p2pmr_device_bar_info(struct p2pmr_device *dev, unsigned int bar,
			  struct p2pmr_bar_info *info);
int p2pmr_bar_mmap(struct p2pmr_device *dev, unsigned int bar, void **addrp,
		   size_t *lenp);
int p2pmr_bar_munmap(void *addr, size_t len);

const char *p2pmr_vfio_api_name(enum p2pmr_vfio_api api);

/** A range of a BAR, in bytes from the start of the BAR. */
struct p2pmr_range {
	uint64_t offset;	/* page aligned */
	uint64_t length;	/* page aligned, not 0 */
};

bool p2pmr_dmabuf_supported(struct p2pmr_device *dev);
int p2pmr_dmabuf_export(struct p2pmr_device *dev, unsigned int bar,
			const struct p2pmr_range *ranges, unsigned int nr_ranges,
			int *fdp);

int p2pmr_dmabuf_size(int fd, uint64_t *sizep);

/*
 * Memory regions over dma-bufs (p2pmr_reg_dmabuf_mr(3)). The verbs types
 * come from <infiniband/verbs.h>; this header only names them.
 */
struct ibv_pd;
struct ibv_mr;

/*
 * A dma-buf registered as a memory region of @pd. libp2pmr makes it and
 * frees it (p2pmr_dereg_mr()); the fields are for reading. Work requests
 * address its bytes from @iova on, with @lkey in local SGEs and @rkey for
 * the peer.
 */
struct p2pmr_mr {
	struct ibv_pd *pd;
	uint64_t iova;		/* the RDMA address of the MR's first byte */
	uint64_t length;	/* in bytes */
	uint32_t lkey;
	uint32_t rkey;
	uint32_t handle;	/* the kernel's handle, in pd->context */
};

struct p2pmr_mr *p2pmr_reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length,
				     uint64_t iova, int fd, int access);
int p2pmr_dereg_mr(struct p2pmr_mr *mr);
/* True when the kernel method registered it, false when the provider did. */
bool p2pmr_mr_is_fallback(const struct p2pmr_mr *mr);
/*
 * The provider's ibv_mr (its addr is the dma-buf offset, as libibverbs
 * sets it), or NULL for a fallback MR. It belongs to @mr: never pass it to
 * ibv_dereg_mr(); p2pmr_dereg_mr() releases both.
 */
struct ibv_mr *p2pmr_mr_ibv_mr(const struct p2pmr_mr *mr);

/** What the kernel gives back for a memory region it registered. */
struct p2pmr_mr_keys {
	uint32_t handle;	/* the MR's handle in the command fd's context */
	uint32_t lkey;
	uint32_t rkey;
};

/* The raw uverbs layer: a command fd and a PD handle are enough (bindings). */
int p2pmr_uverbs_reg_dmabuf_mr(int cmd_fd, uint32_t pd_handle, uint64_t offset,
			       uint64_t length, uint64_t iova, int fd, int access,
			       struct p2pmr_mr_keys *keys);
int p2pmr_uverbs_dereg_mr(int cmd_fd, uint32_t mr_handle);

/*
 * iommufd (p2pmr_iommufd_open(3)): one /dev/iommu context that several
 * devices bind to, I/O address spaces (IOAS) they attach to, and what is
 * mapped there for their DMA: host memory by address, a memfd or a BAR's
 * dma-buf by fd. A device DMAs to an IOVA; the IOMMU sends it where the
 * IOAS maps that IOVA.
 */
struct p2pmr_iommufd;

/* Flags of p2pmr_ioas_map() and p2pmr_ioas_map_file(): IOMMU_IOAS_MAP's. */
enum p2pmr_ioas_map_flags {
	P2PMR_IOAS_MAP_FIXED_IOVA = 1 << 0,	/* map at *iovap, else the kernel picks */
	P2PMR_IOAS_MAP_WRITEABLE = 1 << 1,	/* devices may write to the range */
	P2PMR_IOAS_MAP_READABLE = 1 << 2,	/* devices may read from it */
};

int p2pmr_iommufd_open(struct p2pmr_iommufd **ictxp);
int p2pmr_iommufd_close(struct p2pmr_iommufd *ictx);
int p2pmr_iommufd_fd(const struct p2pmr_iommufd *ictx);

int p2pmr_ioas_alloc(struct p2pmr_iommufd *ictx, uint32_t *ioas_idp);
int p2pmr_ioas_destroy(struct p2pmr_iommufd *ictx, uint32_t ioas_id);
int p2pmr_ioas_map(struct p2pmr_iommufd *ictx, uint32_t ioas_id, void *addr,
		   uint64_t length, uint32_t flags, uint64_t *iovap);
int p2pmr_ioas_map_file(struct p2pmr_iommufd *ictx, uint32_t ioas_id, int fd,
			uint64_t start, uint64_t length, uint32_t flags, uint64_t *iovap);
int p2pmr_ioas_unmap(struct p2pmr_iommufd *ictx, uint32_t ioas_id, uint64_t iova,
		     uint64_t length);

/* A device by its VFIO cdev, bound to @ictx; p2pmr_device_close() unbinds. */
int p2pmr_device_bind_iommufd(const char *pci_addr, struct p2pmr_iommufd *ictx,
			      struct p2pmr_device **devp);
int p2pmr_device_attach_ioas(struct p2pmr_device *dev, uint32_t ioas_id);

/** The message of the calling thread's last failed call ("" if none). */
const char *p2pmr_last_error(void);
/*
 * Record why a call failed, for p2pmr_last_error(): the message, then
 * " (strerror(err))"; sets errno to @err and returns @err, so a failure
 * path reads: return p2pmr_set_error(ENODEV, "no device %s", name);
 */
int p2pmr_set_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* P2PMR_H */
