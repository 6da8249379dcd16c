/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * VFIO_DEVICE_FEATURE_DMA_BUF as in Linux v6.19 include/uapi/linux/vfio.h,
 * for systems whose kernel headers predate it (Debian 12 ships 6.1). The
 * layout is the kernel ABI and must not change.
 */
#ifndef P2PMR_VFIO_DMABUF_UAPI_H
#define P2PMR_VFIO_DMABUF_UAPI_H

#include <linux/types.h>
#include <linux/vfio.h>

#ifndef VFIO_DEVICE_FEATURE_DMA_BUF
#define VFIO_DEVICE_FEATURE_DMA_BUF 11

struct vfio_region_dma_range {
	__u64 offset;
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};
#endif

#endif /* P2PMR_VFIO_DMABUF_UAPI_H */
