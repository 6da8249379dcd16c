// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: what revokes and restores the dma-bufs of the VFIO device:
 * memory decode off and on through the config region, D3hot and back,
 * runtime low power entry and exit, FLR/VFIO reset, hot reset, closing and
 * reopening the device, and (--heavy) unbinding it from vfio-pci and
 * binding it again through sysfs. Mostly as short pulses (off, up to 3 ms,
 * on again), so that the buffers are revoked often but usable most of the
 * time; now and then a single step that leaves them revoked a while.
 *
 * The errno lists are what the calls can legitimately answer in some state
 * of the device (a reset method missing, low power entered twice); a
 * config space access through VFIO never fails, and the device must open
 * again after it was closed or rebound.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fuzz.h"
#include "vfio_ctl.h"

static int on_device(struct fuzz_thread *t, const char *what, int (*fn)(struct p2pmr_device *))
{
	struct p2pmr_device *dev = fz_dev_get(t->f);
	int ret;

	if (!dev)
		return FUZZ_SKIP;
	fz_note(t, "%s", what);
	ret = fn(dev);
	fz_dev_put(t->f);
	return ret;
}

static int decode_off(struct p2pmr_device *dev)
{
	return vfio_set_memory_decode(dev, false);
}

static int decode_on(struct p2pmr_device *dev)
{
	return vfio_set_memory_decode(dev, true);
}

static int to_d3hot(struct p2pmr_device *dev)
{
	return vfio_set_power_state(dev, PM_STATE_D3HOT);
}

static int to_d0(struct p2pmr_device *dev)
{
	return vfio_set_power_state(dev, PM_STATE_D0);
}

/* VFIO_DEVICE_FEATURE_SET of a feature without data. */
static int feature_set(struct p2pmr_device *dev, uint32_t feature)
{
	struct vfio_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFIO_DEVICE_FEATURE_SET | feature,
	};

	return ioctl(p2pmr_device_fd(dev), VFIO_DEVICE_FEATURE, &f) ? -errno : 0;
}

static int low_power_entry(struct p2pmr_device *dev)
{
	return feature_set(dev, VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY);
}

static int low_power_exit(struct p2pmr_device *dev)
{
	return feature_set(dev, VFIO_DEVICE_FEATURE_LOW_POWER_EXIT);
}

/* @off, a pause of up to 3 ms, @on: a short revocation. */
static int pulse(struct fuzz_thread *t, const char *what, int (*off)(struct p2pmr_device *),
		 int (*on)(struct p2pmr_device *))
{
	struct p2pmr_device *dev = fz_dev_get(t->f);
	int ret, ret_on;

	if (!dev)
		return FUZZ_SKIP;
	fz_note(t, "%s", what);
	ret = off(dev);
	usleep(rng_below(&t->rng, 3000));
	ret_on = on(dev);
	fz_dev_put(t->f);
	return ret ? ret : ret_on;
}

/*
 * Memory decode off and on as fast as config space writes go, a few dozen
 * times: registrations and maps of other threads meet revocations at
 * every point.
 */
static int op_decode_storm(struct fuzz_thread *t)
{
	struct p2pmr_device *dev = fz_dev_get(t->f);
	unsigned int n = 8 + rng_below(&t->rng, 40), i;
	int ret = 0;

	if (!dev)
		return FUZZ_SKIP;
	fz_note(t, "memory decode off and on %u times", n);
	for (i = 0; i < n && !ret; i++) {
		ret = vfio_set_memory_decode(dev, false);
		if (!ret)
			ret = vfio_set_memory_decode(dev, true);
		fz_progress(t);
	}
	fz_dev_put(t->f);
	return ret;
}

static int op_decode_pulse(struct fuzz_thread *t)
{
	return pulse(t, "memory decode off and on", decode_off, decode_on);
}

static int op_d3hot_pulse(struct fuzz_thread *t)
{
	return pulse(t, "D3hot and D0", to_d3hot, to_d0);
}

static int op_low_power_pulse(struct fuzz_thread *t)
{
	return pulse(t, "low power entry and exit", low_power_entry, low_power_exit);
}

static int op_decode_off(struct fuzz_thread *t)
{
	return on_device(t, "memory decode off", decode_off);
}

static int op_decode_on(struct fuzz_thread *t)
{
	return on_device(t, "memory decode on", decode_on);
}

static int op_d3hot(struct fuzz_thread *t)
{
	return on_device(t, "power state D3hot", to_d3hot);
}

static int op_d0(struct fuzz_thread *t)
{
	return on_device(t, "power state D0", to_d0);
}

static int op_low_power_entry(struct fuzz_thread *t)
{
	return on_device(t, "VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY", low_power_entry);
}

static int op_low_power_exit(struct fuzz_thread *t)
{
	return on_device(t, "VFIO_DEVICE_FEATURE_LOW_POWER_EXIT", low_power_exit);
}

static int op_reset(struct fuzz_thread *t)
{
	return on_device(t, "VFIO_DEVICE_RESET", vfio_reset);
}

static int op_hot_reset(struct fuzz_thread *t)
{
	return on_device(t, "VFIO_DEVICE_PCI_HOT_RESET", vfio_hot_reset);
}

/* With the device closed (dev_lock held for writing): open it again. */
static int dev_reopen(struct fuzz_thread *t, const char *after)
{
	struct fuzz *f = t->f;
	int ret;

	fz_note(t, "opening %s again after %s", f->addr, after);
	ret = p2pmr_device_open(f->addr, P2PMR_VFIO_API_AUTO, &f->dev);
	if (ret) {
		f->dev = NULL;
		fz_finding(t, "%s does not open again after %s: %s", f->addr, after,
			   p2pmr_last_error());
	}
	return -ret;
}

/* Close the VFIO device (its dma-bufs are revoked for good) and reopen it. */
static int op_reopen(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	int ret;

	fz_note(t, "closing %s", f->addr);
	pthread_rwlock_wrlock(&f->dev_lock);
	if (f->dev)
		p2pmr_device_close(f->dev);
	ret = dev_reopen(t, "closing it");
	pthread_rwlock_unlock(&f->dev_lock);
	return ret;
}

static int sysfs_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The name of the driver bound to PCI device @addr, "" if none. */
static void pci_driver(const char *addr, char *name, size_t len)
{
	char path[128], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(name, len, "%s", n > 0 && strrchr(link, '/') ? strrchr(link, '/') + 1 : "");
}

/* Rebinding is safe only if the probe gives the device back to vfio-pci. */
static bool rebind_safe(const char *addr)
{
	char path[128], override[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", addr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, override, sizeof(override) - 1);
	close(fd);
	return n == 9 && !memcmp(override, "vfio-pci\n", 9);
}

static int rebind(const char *addr)
{
	char driver[64];
	int i, ret;

	ret = sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", addr);
	if (!ret)
		ret = sysfs_write("/sys/bus/pci/drivers_probe", addr);
	for (i = 0; !ret && i < 100; i++) {
		pci_driver(addr, driver, sizeof(driver));
		if (!strcmp(driver, "vfio-pci"))
			return 0;
		usleep(100 * 1000);
	}
	return ret ? ret : -ETIMEDOUT;
}

/*
 * --heavy: close the device, unbind it from vfio-pci (its dma-bufs are
 * detached for good, the MRs on them stay), bind it again, reopen it.
 */
static int op_rebind(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	const char *addr = f->addr;	/* canonical, see setup_device() */
	int ret;

	pthread_rwlock_wrlock(&f->dev_lock);
	if (!rebind_safe(addr)) {
		pthread_rwlock_unlock(&f->dev_lock);
		return FUZZ_SKIP;
	}
	if (f->dev)
		p2pmr_device_close(f->dev);
	f->dev = NULL;
	fz_note(t, "unbinding %s from vfio-pci and binding it again", addr);
	ret = rebind(addr);
	if (ret)
		fz_finding(t, "%s did not come back to vfio-pci after unbind: %s", addr,
			   fz_errname(-ret));
	ret = dev_reopen(t, "unbinding and binding it");
	pthread_rwlock_unlock(&f->dev_lock);
	return ret;
}

const struct fuzz_op fuzz_dev_ops[] = {
	FUZZ_OP("decode-pulse", op_decode_pulse, 56, NULL),
	FUZZ_OP("decode-storm", op_decode_storm, 8, NULL),
	FUZZ_OP("decode-off", op_decode_off, 8, NULL),
	FUZZ_OP("decode-on", op_decode_on, 32, NULL),
	FUZZ_OP("d3hot-pulse", op_d3hot_pulse, 12, ERRNOS(ENOTSUP)),
	FUZZ_OP("d3hot", op_d3hot, 4, ERRNOS(ENOTSUP)),
	FUZZ_OP("d0", op_d0, 12, ERRNOS(ENOTSUP)),
	FUZZ_OP("low-power-pulse", op_low_power_pulse, 12, ERRNOS(EINVAL, ENOTTY)),
	FUZZ_OP("low-power-entry", op_low_power_entry, 4, ERRNOS(EINVAL, ENOTTY)),
	FUZZ_OP("low-power-exit", op_low_power_exit, 12, ERRNOS(EINVAL, ENOTTY)),
	FUZZ_OP("reset", op_reset, 16, ERRNOS(EINVAL, ENOTTY, EAGAIN, EBUSY)),
	FUZZ_OP("hot-reset", op_hot_reset, 8, ERRNOS(EINVAL, EPERM, EBUSY, EAGAIN, ENOTTY)),
	FUZZ_OP("reopen", op_reopen, 1, NULL),
	FUZZ_OP_HEAVY("rebind", op_rebind, 3, NULL),
	FUZZ_OP_END,
};
