/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface of the dma-buf test importer (CONFIG_DMABUF_TEST_IMPORTER).
 *
 * The test importer lets userspace exercise a dma-buf exporter the way a
 * dynamic, peer-to-peer capable in-kernel importer would: attach, map for DMA,
 * vmap and access with the CPU, and observe move_notify. It is meant for
 * testing only.
 *
 * Each open file of dma_buf_test_importer in debugfs is one session, holding
 * at most one attachment. Closing the file detaches. Opening the file and
 * every ioctl need CAP_SYS_ADMIN (else EPERM), whoever opened it. A MAP that
 * fails leaves nothing mapped.
 *
 * This is not a user-space ABI: the interface may change with the kernel,
 * and only the tests built along with it use this header.
 */
#ifndef _DMA_BUF_TEST_IMPORTER_H
#define _DMA_BUF_TEST_IMPORTER_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Attach as the PCI function given in struct dma_buf_ti_attach. */
#define DMA_BUF_TI_ATTACH_PCI_DEV	0x01U
/* Attach as a static importer: no move_notify, so never revocable. */
#define DMA_BUF_TI_ATTACH_STATIC	0x02U
/* Attach as a dynamic importer that cannot take peer-to-peer memory. */
#define DMA_BUF_TI_ATTACH_NO_P2P	0x04U
/*
 * Misbehave: count move_notify but keep the DMA mapping until it is unmapped
 * through the ioctl, to test how an exporter copes with a slow importer.
 */
#define DMA_BUF_TI_ATTACH_KEEP_MAPPED	0x08U
/* Pin the attachment until it is detached (dma_buf_pin()). */
#define DMA_BUF_TI_ATTACH_PIN		0x10U
/*
 * Attach without move_notify, as an importer that relies on its pin and
 * cannot be told to stop using the buffer: not revocable (see
 * dma_buf_attach_revocable()). Needs DMA_BUF_TI_ATTACH_PIN.
 */
#define DMA_BUF_TI_ATTACH_NOT_REVOCABLE	0x20U
#define DMA_BUF_TI_ATTACH_FLAGS		(DMA_BUF_TI_ATTACH_PCI_DEV | \
					 DMA_BUF_TI_ATTACH_STATIC | \
					 DMA_BUF_TI_ATTACH_NO_P2P | \
					 DMA_BUF_TI_ATTACH_KEEP_MAPPED | \
					 DMA_BUF_TI_ATTACH_PIN | \
					 DMA_BUF_TI_ATTACH_NOT_REVOCABLE)

/**
 * struct dma_buf_ti_attach - DMA_BUF_TI_IOCTL_ATTACH argument
 * @fd: dma-buf file descriptor
 * @flags: DMA_BUF_TI_ATTACH_* flags
 * @pci_domain: PCI domain of the device to attach as
 * @pci_bus: PCI bus number of the device to attach as
 * @pci_devfn: PCI device and function number of the device to attach as
 * @pad: must be zero
 *
 * Without DMA_BUF_TI_ATTACH_PCI_DEV the attachment is made for the test
 * importer's own device, which is not a PCI device and cannot DMA. By default
 * the attachment is dynamic, allows peer-to-peer memory and drops every
 * mapping in move_notify; DMA_BUF_TI_ATTACH_STATIC and _NO_P2P make it an
 * importer that exporters of revocable or MMIO buffers must refuse, and
 * DMA_BUF_TI_ATTACH_KEEP_MAPPED one that is late to unmap. The attachment
 * honours move_notify whether pinned or not, so it is revocable, unless
 * DMA_BUF_TI_ATTACH_NOT_REVOCABLE leaves move_notify out.
 */
struct dma_buf_ti_attach {
	__s32 fd;
	__u32 flags;
	__u32 pci_domain;
	__u8 pci_bus;
	__u8 pci_devfn;
	__u16 pad;
};

/* DMA directions for struct dma_buf_ti_map */
#define DMA_BUF_TI_DIR_BIDIRECTIONAL	0
#define DMA_BUF_TI_DIR_TO_DEVICE	1
#define DMA_BUF_TI_DIR_FROM_DEVICE	2

/* The segment address is a PCI bus address, not translated by an IOMMU. */
#define DMA_BUF_TI_SEG_BUS_ADDR		0x01U

/**
 * struct dma_buf_ti_seg - one DMA segment of a mapping
 * @dma_addr: DMA address
 * @len: length in bytes
 * @flags: DMA_BUF_TI_SEG_* flags
 * @pad: zero
 */
struct dma_buf_ti_seg {
	__u64 dma_addr;
	__u64 len;
	__u32 flags;
	__u32 pad;
};

/**
 * struct dma_buf_ti_map - DMA_BUF_TI_IOCTL_MAP argument
 * @dir: DMA_BUF_TI_DIR_*
 * @nr_segs: in: entries available at @segs; out: segments of the mapping,
 *	which may be more than were copied
 * @segs: pointer to an array of struct dma_buf_ti_seg
 * @size: out: sum of the segment lengths
 */
struct dma_buf_ti_map {
	__u32 dir;
	__u32 nr_segs;
	__u64 segs;
	__u64 size;
};

/**
 * struct dma_buf_ti_rw - DMA_BUF_TI_IOCTL_READ/WRITE argument
 * @offset: offset in the dma-buf
 * @len: number of bytes
 * @buf: pointer to the user buffer
 */
struct dma_buf_ti_rw {
	__u64 offset;
	__u64 len;
	__u64 buf;
};

/**
 * struct dma_buf_ti_status - DMA_BUF_TI_IOCTL_STATUS result
 * @size: size of the attached dma-buf
 * @move_notify_count: move_notify calls received by the attachment
 * @attached: a dma-buf is attached
 * @mapped: the attachment is mapped for DMA
 * @vmapped: the dma-buf is vmapped by this session
 * @pad: zero
 */
struct dma_buf_ti_status {
	__u64 size;
	__u64 move_notify_count;
	__u32 attached;
	__u32 mapped;
	__u32 vmapped;
	__u32 pad;
};

#define DMA_BUF_TI_IOC_MAGIC		0xB9

/* Attach to a dma-buf (EBUSY if attached already). */
#define DMA_BUF_TI_IOCTL_ATTACH		_IOW(DMA_BUF_TI_IOC_MAGIC, 0, struct dma_buf_ti_attach)
/* Unmap, vunmap and detach. */
#define DMA_BUF_TI_IOCTL_DETACH		_IO(DMA_BUF_TI_IOC_MAGIC, 1)
/* Map the attachment for DMA and return its segments. */
#define DMA_BUF_TI_IOCTL_MAP		_IOWR(DMA_BUF_TI_IOC_MAGIC, 2, struct dma_buf_ti_map)
/* Unmap the attachment. */
#define DMA_BUF_TI_IOCTL_UNMAP		_IO(DMA_BUF_TI_IOC_MAGIC, 3)
/* Map the dma-buf into the kernel. */
#define DMA_BUF_TI_IOCTL_VMAP		_IO(DMA_BUF_TI_IOC_MAGIC, 4)
/* Drop the kernel mapping. */
#define DMA_BUF_TI_IOCTL_VUNMAP		_IO(DMA_BUF_TI_IOC_MAGIC, 5)
/* Copy from the vmapped dma-buf to the user buffer. */
#define DMA_BUF_TI_IOCTL_READ		_IOW(DMA_BUF_TI_IOC_MAGIC, 6, struct dma_buf_ti_rw)
/* Copy from the user buffer to the vmapped dma-buf. */
#define DMA_BUF_TI_IOCTL_WRITE		_IOW(DMA_BUF_TI_IOC_MAGIC, 7, struct dma_buf_ti_rw)
/* Report the state of the session. */
#define DMA_BUF_TI_IOCTL_STATUS		_IOR(DMA_BUF_TI_IOC_MAGIC, 8, struct dma_buf_ti_status)

#endif /* _DMA_BUF_TEST_IMPORTER_H */
