// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * lib-test: libp2pmr's calls without a device, on the host: wrong
 * arguments are refused as verbs refuse them (int results 0 or a positive
 * errno, pointer results NULL with errno set), each with a message in
 * p2pmr_last_error() that names the problem, kept per thread.
 * Prints TAP; exit status 0 when every check held.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "tap.h"

/* @ret must be @err and the message must contain @words. */
static void check_fail(int ret, int err, const char *words, const char *what)
{
	tap_check(ret == err && strstr(p2pmr_last_error(), words), what,
		  "ret %d (want %d), message '%s' (want '%s')", ret, err, p2pmr_last_error(),
		  words);
}

static void check_device_open(void)
{
	struct p2pmr_device *dev = (void *)&dev;

	check_fail(p2pmr_device_open("bogus", P2PMR_VFIO_API_AUTO, &dev), EINVAL,
		   "'bogus' is not a PCI address", "a malformed PCI address is EINVAL, quoted");
	check_fail(p2pmr_device_open("0000:00:20.0", P2PMR_VFIO_API_AUTO, &dev), EINVAL,
		   "out of range", "slot 0x20 is out of range (EINVAL)");
	check_fail(p2pmr_device_open("ffff:ff:1f.7", P2PMR_VFIO_API_AUTO, &dev), ENODEV,
		   "no PCI device ffff:ff:1f.7 (see lspci -D)",
		   "a device that does not exist is ENODEV, with where to look");
	tap_check(dev == (void *)&dev, "a failed open leaves *devp alone", "%p", (void *)dev);
	tap_check(!strcmp(p2pmr_vfio_api_name(P2PMR_VFIO_API_CDEV), "cdev") &&
		  !strcmp(p2pmr_vfio_api_name(P2PMR_VFIO_API_GROUP), "group") &&
		  !strcmp(p2pmr_vfio_api_name(P2PMR_VFIO_API_AUTO), "auto") &&
		  !strcmp(p2pmr_vfio_api_name(42), "unknown"),
		  "the VFIO APIs are named auto, cdev, group; others unknown", "%s",
		  p2pmr_vfio_api_name(42));
}

static void check_dmabuf_size(void)
{
	uint64_t size;
	int mem_fd;

	mem_fd = memfd_create("not-a-dmabuf", MFD_CLOEXEC);
	check_fail(p2pmr_dmabuf_size(mem_fd, &size), EINVAL, "is not a dma-buf fd",
		   "a memfd is not a dma-buf (EINVAL, says so)");
	close(mem_fd);
	check_fail(p2pmr_dmabuf_size(-1, &size), EBADF, "fd -1 is not open",
		   "fd -1 is not open (EBADF)");
}

static void check_uverbs(void)
{
	struct p2pmr_mr_keys keys;
	int null_fd;

	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, 0, &keys), ENOTTY,
		   "is not a verbs command fd",
		   "a character device that is not uverbs is refused (ENOTTY)");
	check_fail(p2pmr_uverbs_dereg_mr(1000, 1), EBADF, "verbs command fd 1000 is not open",
		   "a closed command fd is refused (EBADF)");
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, IBV_ACCESS_MW_BIND,
					      &keys),
		   EINVAL, "access flags 0x10 are not allowed",
		   "memory-window access is refused for dma-buf MRs (EINVAL, names the bits)");
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, IBV_ACCESS_REMOTE_WRITE,
					      &keys),
		   EINVAL, "needs IBV_ACCESS_LOCAL_WRITE",
		   "remote write without local write is refused (EINVAL, names the fix)");
	check_fail(p2pmr_uverbs_reg_dmabuf_mr(null_fd, 0, 0, 4096, 0, 0, 0, NULL), EINVAL,
		   "no place for the MR's keys", "no keys to fill is EINVAL");
	close(null_fd);
}

static void check_mr(void)
{
	errno = 0;
	tap_check(!p2pmr_reg_dmabuf_mr(NULL, 0, 4096, 0, 0, 0) && errno == EINVAL &&
		  strstr(p2pmr_last_error(), "no PD"),
		  "registering without a PD is NULL with errno EINVAL, 'no PD'", "errno %d, '%s'",
		  errno, p2pmr_last_error());
	check_fail(p2pmr_dereg_mr(NULL), EINVAL, "no MR", "deregistering NULL is EINVAL");
}

static void *set_in_thread(void *arg)
{
	(void)arg;
	p2pmr_set_error(EIO, "another thread's failure");
	return NULL;
}

static void check_messages(void)
{
	pthread_t thread;
	void *map;
	int ret;

	errno = 0;
	ret = p2pmr_set_error(EPERM, "step %d of %s", 3, "five");
	tap_check(ret == EPERM && errno == EPERM,
		  "p2pmr_set_error() returns its errno and sets errno", "ret %d, errno %d", ret,
		  errno);
	tap_check(!strcmp(p2pmr_last_error(), "step 3 of five (Operation not permitted)"),
		  "the message is formatted, then the errno's text in parentheses", "'%s'",
		  p2pmr_last_error());
	pthread_create(&thread, NULL, set_in_thread, NULL);
	pthread_join(thread, NULL);
	tap_check(!strcmp(p2pmr_last_error(), "step 3 of five (Operation not permitted)"),
		  "another thread's failure does not touch this thread's message", "'%s'",
		  p2pmr_last_error());

	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ret = p2pmr_bar_munmap(map, 4096);
	tap_check(!ret && !p2pmr_last_error()[0], "a call that succeeds leaves no message",
		  "ret %d, '%s'", ret, p2pmr_last_error());
	check_fail(p2pmr_bar_munmap((void *)1, 4096), EINVAL, "munmap of a BAR mapping failed",
		   "munmap's own errno comes back, positive");
}

/*
 * iommufd without /dev/iommu (the development host has none; the guest
 * suite iommufd-dma tests the rest against the kernel).
 */
static void check_iommufd(void)
{
	struct p2pmr_iommufd *ictx = (void *)&ictx;

	if (access("/dev/iommu", F_OK)) {
		check_fail(p2pmr_iommufd_open(&ictx), ENOENT, "no /dev/iommu: the kernel has no iommufd",
			   "without /dev/iommu, p2pmr_iommufd_open() is ENOENT and names iommufd");
		tap_check(ictx == (void *)&ictx, "a failed p2pmr_iommufd_open() leaves *ictxp alone",
			  "%p", (void *)ictx);
	} else {
		tap_check(!p2pmr_iommufd_open(&ictx) && !p2pmr_iommufd_close(ictx),
			  "with /dev/iommu, p2pmr_iommufd_open() and _close() succeed", "%s",
			  p2pmr_last_error());
	}
	tap_check(!p2pmr_iommufd_close(NULL), "p2pmr_iommufd_close(NULL) is 0", "%s",
		  p2pmr_last_error());
	check_fail(p2pmr_device_bind_iommufd("bogus", NULL, (void *)&ictx), EINVAL,
		   "'bogus' is not a PCI address",
		   "p2pmr_device_bind_iommufd() refuses a malformed PCI address (EINVAL)");
	check_fail(p2pmr_device_bind_iommufd("ffff:ff:1f.7", NULL, (void *)&ictx), ENODEV,
		   "no PCI device ffff:ff:1f.7",
		   "p2pmr_device_bind_iommufd() of a missing device is ENODEV");
}

int main(void)
{
	check_iommufd();
	check_device_open();
	check_dmabuf_size();
	check_uverbs();
	check_mr();
	check_messages();
	return tap_done();
}
