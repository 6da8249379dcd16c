// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A program as a user of the libp2pmr-dev package writes it: only the
 * installed <p2pmr.h> and libibverbs, compiled through pkg-config. Not
 * built by CMake: the install check (tests/host/install_test.py) and the
 * packages suite (tests/suites/packages) compile it against what
 * `cmake --install` and the Debian packages laid out.
 *
 * usage: pkg-user PCI BAR [IB_DEV]
 *
 * Opens the VFIO device PCI, exports the first MiB of BAR (the whole BAR
 * when smaller) as a dma-buf and checks its size; with IB_DEV, registers
 * it as an MR on a PD of IB_DEV and deregisters it. Exit status 0 when
 * all of that worked; else 1 and libp2pmr's message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <p2pmr.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "pkg-user: %s: %s (%s)\n", what, p2pmr_last_error(), strerror(err));
	return 1;
}

static int reg_mr(const char *ib_dev, int fd, uint64_t length)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	struct p2pmr_mr *mr;
	struct ibv_pd *pd;
	int i, rc = 1;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), ib_dev))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx) {
		fprintf(stderr, "pkg-user: no RDMA device %s could be opened\n", ib_dev);
		return 1;
	}
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		fprintf(stderr, "pkg-user: ibv_alloc_pd on %s: %s\n", ib_dev, strerror(errno));
		goto close;
	}
	mr = p2pmr_reg_dmabuf_mr(pd, 0, length, 0, fd, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr) {
		rc = fail("p2pmr_reg_dmabuf_mr", errno);
		goto pd;
	}
	printf("pkg-user: MR of %llu bytes on %s, lkey %#x rkey %#x, registered by %s\n",
	       (unsigned long long)mr->length, ib_dev, mr->lkey, mr->rkey,
	       p2pmr_mr_is_fallback(mr) ? "the kernel method" : "the provider");
	rc = p2pmr_dereg_mr(mr);
	if (rc)
		rc = fail("p2pmr_dereg_mr", rc);
pd:
	ibv_dealloc_pd(pd);
close:
	ibv_close_device(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	struct p2pmr_bar_info info;
	struct p2pmr_range range;
	struct p2pmr_device *dev;
	uint64_t size;
	unsigned int bar;
	int fd, rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: pkg-user PCI BAR [IB_DEV]\n");
		return 2;
	}
	bar = strtoul(argv[2], NULL, 0);
	rc = p2pmr_device_open(argv[1], P2PMR_VFIO_API_AUTO, &dev);
	if (rc)
		return fail("p2pmr_device_open", rc);
	rc = p2pmr_device_bar_info(dev, bar, &info);
	if (rc) {
		rc = fail("p2pmr_device_bar_info", rc);
		goto close;
	}
	range.offset = 0;
	range.length = info.size < (1 << 20) ? info.size : (1 << 20);
	rc = p2pmr_dmabuf_export(dev, bar, &range, 1, &fd);
	if (rc) {
		rc = fail("p2pmr_dmabuf_export", rc);
		goto close;
	}
	rc = p2pmr_dmabuf_size(fd, &size);
	if (rc) {
		rc = fail("p2pmr_dmabuf_size", rc);
	} else if (size != range.length) {
		fprintf(stderr, "pkg-user: the dma-buf has %llu bytes, expected %llu\n",
			(unsigned long long)size, (unsigned long long)range.length);
		rc = 1;
	} else {
		printf("pkg-user: %s BAR %u: %llu bytes exported as a dma-buf through the %s API\n",
		       p2pmr_device_pci_addr(dev), bar, (unsigned long long)size,
		       p2pmr_vfio_api_name(p2pmr_device_api(dev)));
		if (argc == 4)
			rc = reg_mr(argv[3], fd, size);
	}
	close(fd);
close:
	p2pmr_device_close(dev);
	return rc;
}
