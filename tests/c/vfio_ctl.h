/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What the C tests do to a VFIO device besides exporting it: config space
 * writes that turn memory decode or power off, resets. Each returns 0 or a
 * negative errno value.
 */
#ifndef P2PMR_TEST_VFIO_CTL_H
#define P2PMR_TEST_VFIO_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2pmr.h"

/* Power states as PCI_PM_CTRL_STATE_MASK encodes them. */
#define PM_STATE_D0	0
#define PM_STATE_D3HOT	3

int vfio_config_rw(struct p2pmr_device *dev, bool write, unsigned int pos, void *val,
		   size_t len);
int vfio_set_memory_decode(struct p2pmr_device *dev, bool on);
/* Offset of the power management capability, or 0. */
unsigned int vfio_find_pm_cap(struct p2pmr_device *dev);
int vfio_set_power_state(struct p2pmr_device *dev, unsigned int state);
int vfio_reset(struct p2pmr_device *dev);
/* Bus reset of the device's slot; with the cdev API no group fds are given. */
int vfio_hot_reset(struct p2pmr_device *dev);

/*
 * VFIO_DEVICE_FEATURE_DMA_BUF of one range with @open_flags (the access
 * mode libp2pmr's export does not take): the dma-buf fd, or -errno.
 */
int vfio_export_mode(struct p2pmr_device *dev, unsigned int bar, uint64_t offset, uint64_t len,
		     uint32_t open_flags);

/* Read @len bytes at @off of a file (the host's file behind a BAR). */
int host_file_read(const char *path, uint64_t off, void *buf, size_t len);

#endif /* P2PMR_TEST_VFIO_CTL_H */
