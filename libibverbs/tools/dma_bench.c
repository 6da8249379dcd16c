// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr dma-bench: bytes moved by an NVMe controller's own DMA into a BAR
 * (another device's, mapped into the controller's IOAS by its dma-buf with
 * IOMMU_IOAS_MAP_FILE) against the same transfers into host memory
 * (IOMMU_IOAS_MAP), round by round, and the ratio. The controller is driven
 * by the userspace NVMe driver (nvme.c) over VFIO cdev + iommufd.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "p2pmr.h"
#include "dma_bench.h"
#include "nvme.h"
#include "sizes.h"

struct dma_opts {
	const char *nvme, *bar_pci;
	int bar;
	uint64_t bar_offset;
	struct size_list sizes;
	uint64_t total;		/* bytes per size, side and round */
	unsigned int rounds;
	unsigned int depth;	/* commands in flight */
	bool write;		/* WRITE from memory to the namespace, not READ */
	bool host_only;		/* no BAR: the host memory column alone */
};

void dma_bench_usage(FILE *out)
{
	fprintf(out,
		"usage: p2pmr dma-bench --nvme PCI (--bar-pci PCI --bar N | --host-only) [options]\n"
		"  NVMe DMA into a BAR against host memory: the NVMe controller at --nvme and\n"
		"  the device owning the BAR, both bound to vfio-pci, share one iommufd IOAS;\n"
		"  the BAR is mapped there by its dma-buf (IOMMU_IOAS_MAP_FILE), host memory by\n"
		"  address. Each size moves --total bytes to each side per round, the sides\n"
		"  interleaved; prints MB/s of each and BAR/host.\n"
		"  --bar-offset O   where in the BAR (default 0; page aligned)\n"
		"  --sizes LIST     bytes per command (default 4K-1M: 4K,16K,64K,256K,1M)\n"
		"  --total BYTES    per size, side and round (default 16M)\n"
		"  --rounds N       (default 3)\n"
		"  --depth N        commands in flight, 1 to %u (default 8)\n"
		"  --write          NVMe WRITE from the memory (overwrites the namespace);\n"
		"                   default NVMe READ into it\n"
		"  --host-only      host memory alone, no BAR (a baseline where the kernel\n"
		"                   cannot map a BAR dma-buf into an IOAS)\n"
		"  The namespace is read from (or written to) from its start, wrapping.\n",
		NVME_QDEPTH - 1);
}

static int parse(struct dma_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nvme", required_argument, NULL, 'n' },
		{ "bar-pci", required_argument, NULL, 'p' },
		{ "bar", required_argument, NULL, 'b' },
		{ "bar-offset", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "total", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "depth", required_argument, NULL, 'd' },
		{ "write", no_argument, NULL, 'w' },
		{ "host-only", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint64_t v;
	int c;

	*o = (struct dma_opts){ .bar = -1, .total = 16 << 20, .rounds = 3, .depth = 8 };
	parse_size_list("4K-1M", &o->sizes);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			dma_bench_usage(stdout);
			return 1;
		case 'n':
			o->nvme = optarg;
			continue;
		case 'p':
			o->bar_pci = optarg;
			continue;
		case 'w':
			o->write = true;
			continue;
		case 'H':
			o->host_only = true;
			continue;
		case 's':
			if (parse_size_list(optarg, &o->sizes)) {
				fprintf(stderr, "p2pmr dma-bench: bad --sizes '%s'\n", optarg);
				return 2;
			}
			continue;
		case '?':
			dma_bench_usage(stderr);
			return 2;
		}
		if (parse_size(optarg, &v) || (c == 'b' && v >= P2PMR_MAX_BARS) ||
		    ((c == 'r' || c == 't') && !v) ||
		    (c == 'd' && (!v || v > NVME_QDEPTH - 1)) || (c == 'o' && v % NVME_PAGE)) {
			fprintf(stderr, "p2pmr dma-bench: bad --%s '%s'\n",
				c == 'b' ? "bar" : c == 'o' ? "bar-offset" : c == 't' ? "total" :
				c == 'r' ? "rounds" : "depth", optarg);
			return 2;
		}
		if (c == 'b')
			o->bar = v;
		else if (c == 'o')
			o->bar_offset = v;
		else if (c == 't')
			o->total = v;
		else if (c == 'r')
			o->rounds = v;
		else
			o->depth = v;
	}
	if (optind != argc) {
		fprintf(stderr, "p2pmr dma-bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!o->nvme || (!o->host_only && (!o->bar_pci || o->bar < 0))) {
		fprintf(stderr, "p2pmr dma-bench: --nvme PCI, and --bar-pci PCI and --bar N (or --host-only), are needed\n");
		return 2;
	}
	if (o->host_only && (o->bar_pci || o->bar >= 0)) {
		fprintf(stderr, "p2pmr dma-bench: --host-only takes no --bar-pci or --bar\n");
		return 2;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Move @total bytes in commands of @size, @depth at a time, to or from
 * [@iova, @iova + @size * @depth); the seconds in *secs. 0 or an errno.
 */
static int run(struct nvme_ctrl *c, const struct dma_opts *o, uint64_t iova, uint64_t size,
	       double *secs)
{
	uint64_t n = (o->total + size - 1) / size, issued = 0, done = 0;
	uint64_t span = c->ns_blocks * c->lba_size / size * size;
	uint16_t cid[NVME_QDEPTH];
	unsigned int slot, inflight = 0;
	double t0 = now_s();
	int ret;

	while (done < n) {
		while (inflight < o->depth && issued < n) {
			slot = issued % o->depth;
			ret = nvme_submit_rw(c, o->write, (issued * size) % span, iova + slot * size,
					     size, &cid[slot]);
			if (ret)
				return ret;
			issued++;
			inflight++;
		}
		slot = done % o->depth;
		ret = nvme_wait(c, cid[slot], NULL);
		if (ret)
			return ret;
		done++;
		inflight--;
	}
	*secs = now_s() - t0;
	return 0;
}

struct sides {
	struct p2pmr_iommufd *ictx;
	uint32_t ioas;
	struct nvme_ctrl nvme;
	struct p2pmr_device *bar_dev;
	int dmabuf;
	uint64_t len;			/* of each side's window */
	void *host;
	uint64_t host_iova, bar_iova;
};

/* The BAR side: bind and attach its device, export the range, map it by fd. */
static int setup_bar(struct sides *s, const struct dma_opts *o)
{
	struct p2pmr_range range;
	struct p2pmr_bar_info info;
	int ret;

	ret = p2pmr_device_bind_iommufd(o->bar_pci, s->ictx, &s->bar_dev);
	if (!ret)
		ret = p2pmr_device_attach_ioas(s->bar_dev, s->ioas);
	if (!ret)
		ret = p2pmr_device_bar_info(s->bar_dev, o->bar, &info);
	if (ret)
		return ret;
	if (o->bar_offset + s->len > info.size)
		return p2pmr_set_error(EINVAL, "BAR %d of %s has 0x%" PRIx64 " bytes: too small for --bar-offset 0x%" PRIx64 " + --depth x the largest size (0x%" PRIx64 ")",
				       o->bar, o->bar_pci, info.size, o->bar_offset, s->len);
	range = (struct p2pmr_range){ o->bar_offset, s->len };
	ret = p2pmr_dmabuf_export(s->bar_dev, o->bar, &range, 1, &s->dmabuf);
	if (ret)
		return ret;
	return p2pmr_ioas_map_file(s->ictx, s->ioas, s->dmabuf, 0, s->len,
				   P2PMR_IOAS_MAP_READABLE | P2PMR_IOAS_MAP_WRITEABLE, &s->bar_iova);
}

static int setup(struct sides *s, const struct dma_opts *o)
{
	uint64_t max = size_list_max(&o->sizes);
	int ret;

	ret = p2pmr_iommufd_open(&s->ictx);
	if (!ret)
		ret = p2pmr_ioas_alloc(s->ictx, &s->ioas);
	if (!ret)
		ret = nvme_open(&s->nvme, o->nvme, s->ictx, s->ioas, 20000);
	if (ret)
		return ret;
	if (max > s->nvme.max_transfer)
		return p2pmr_set_error(EINVAL, "--sizes: %" PRIu64 " bytes is more than %s moves in one command (%" PRIu64 ")",
				       max, o->nvme, s->nvme.max_transfer);
	s->len = (max * o->depth + NVME_PAGE - 1) / NVME_PAGE * NVME_PAGE;
	if (!o->host_only) {
		ret = setup_bar(s, o);
		if (ret)
			return ret;
	}

	s->host = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->host == MAP_FAILED) {
		s->host = NULL;
		return p2pmr_set_error(errno, "allocating %" PRIu64 " bytes of host memory", s->len);
	}
	memset(s->host, 0, s->len);
	return p2pmr_ioas_map(s->ictx, s->ioas, s->host, s->len,
			      P2PMR_IOAS_MAP_READABLE | P2PMR_IOAS_MAP_WRITEABLE, &s->host_iova);
}

static void teardown(struct sides *s)
{
	nvme_close(&s->nvme);
	if (s->dmabuf >= 0)
		close(s->dmabuf);
	p2pmr_device_close(s->bar_dev);
	p2pmr_iommufd_close(s->ictx);	/* unmaps everything */
	if (s->host)
		munmap(s->host, s->len);
}

int dma_bench_main(int argc, char **argv)
{
	struct sides s = { .dmabuf = -1 };
	struct dma_opts o;
	double host_s, bar_s, host_sum, bar_sum;
	unsigned int i, r;
	char size[32];
	int ret;

	ret = parse(&o, argc, argv);
	if (ret)
		return ret == 1 ? 0 : ret;
	ret = setup(&s, &o);
	if (ret) {
		fprintf(stderr, "p2pmr dma-bench: %s\n", p2pmr_last_error());
		teardown(&s);
		return 1;
	}
	printf("NVMe %s (%s, serial %s) %s, %u in flight, %" PRIu64 " bytes per size, side and round, %u rounds\n",
	       o.nvme, s.nvme.model, s.nvme.serial,
	       o.write ? "WRITE from memory" : "READ into memory", o.depth, o.total, o.rounds);
	printf("host memory at IOVA 0x%" PRIx64 " (IOMMU_IOAS_MAP)", s.host_iova);
	if (o.host_only)
		printf("; no BAR (--host-only)\n");
	else
		printf("; BAR %d of %s at offset 0x%" PRIx64 ", IOVA 0x%" PRIx64 " (dma-buf, IOMMU_IOAS_MAP_FILE)\n",
		       o.bar, o.bar_pci, o.bar_offset, s.bar_iova);
	printf("%-6s %8s %12s %12s %9s\n", "op", "size", "host MB/s", "BAR MB/s", "BAR/host");
	for (i = 0; i < o.sizes.nr; i++) {
		host_sum = bar_sum = 0;
		for (r = 0; r < o.rounds; r++) {
			bar_s = 0;
			ret = run(&s.nvme, &o, s.host_iova, o.sizes.size[i], &host_s);
			if (!ret && !o.host_only)
				ret = run(&s.nvme, &o, s.bar_iova, o.sizes.size[i], &bar_s);
			if (ret) {
				fprintf(stderr, "p2pmr dma-bench: %s\n", p2pmr_last_error());
				teardown(&s);
				return 1;
			}
			host_sum += host_s;
			bar_sum += bar_s;
		}
		printf("%-6s %8s %12.1f", o.write ? "write" : "read",
		       format_size(o.sizes.size[i], size, sizeof(size)),
		       o.total * o.rounds / host_sum / 1e6);
		if (o.host_only)
			printf(" %12s %9s\n", "-", "-");
		else
			printf(" %12.1f %9.2f\n", o.total * o.rounds / bar_sum / 1e6,
			       host_sum / bar_sum);
		fflush(stdout);
	}
	teardown(&s);
	return 0;
}
