// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr bench: the same RDMA operations against a target MR in a BAR
 * dma-buf and against one in host memory, in one run, interleaved round by
 * round so that drifts in machine load hit both alike; and the time to
 * register a BAR dma-buf MR against ibv_reg_mr() of host memory.
 *
 * Two RC QPs of one device, connected to each other (rdma_loop.c): the
 * requester posts from a host buffer, the responder owns the target.
 * write: RDMA WRITE into the target; read: RDMA READ from it; send: SEND
 * into a receive posted on the target. Bandwidth keeps the queue full;
 * latency is one operation at a time, post to completion.
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

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "bench.h"
#include "rdma_loop.h"
#include "rdma_opts.h"
#include "sizes.h"

enum bench_op { OP_WRITE, OP_READ, OP_SEND, OP_COUNT };
enum mem_kind { MEM_HOST, MEM_BAR, MEM_KINDS };

static const char *const op_names[OP_COUNT] = { "write", "read", "send" };
static const char *const mem_names[MEM_KINDS] = { "host", "bar" };

#define BENCH_ROUNDS 4
#define REG_ROUNDS 5
#define VERIFY_MAX (1u << 20)
#define MR_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

struct bench_opts {
	const char *pci;
	int bar;			/* -1: not given */
	struct rdma_opts rdma;
	unsigned int ops;		/* bit per enum bench_op */
	bool mem[MEM_KINDS];
	struct size_list sizes;
	struct size_list reg_sizes;
	unsigned int iters;
	unsigned int depth;
	bool verify;
};

struct target {
	struct ibv_mr *host_mr;		/* MEM_HOST: host_buf, ibv_reg_mr() */
	void *host_buf;
	struct p2pmr_mr *bar_mr;	/* MEM_BAR: the BAR dma-buf */
	uint64_t addr;			/* what RDMA calls byte 0 of the MR */
	uint32_t lkey, rkey;
};

struct bench {
	struct bench_opts opts;
	struct rdma_loop loop;
	struct p2pmr_device *dev;
	struct p2pmr_bar_info bar;
	int dmabuf_fd;			/* the whole BAR */
	uint64_t data_len;		/* largest message, page aligned */
	void *local_buf;
	struct ibv_mr *local_mr;
	struct target target[MEM_KINDS];
	bool progress;
};

void bench_usage(FILE *out)
{
	struct rdma_opts defaults;

	rdma_opts_init(&defaults, NULL);
	fprintf(out,
		"usage: p2pmr bench [PCI] --bar N [options]\n"
		"  RDMA operations on a target MR in BAR N of PCI (exported as a dma-buf)\n"
		"  and on one in host memory, side by side, plus MR registration time.\n"
		"  -b, --bar N            the BAR (needed unless --mem host)\n");
	rdma_opts_usage(out, &defaults);
	fprintf(out,
		"      --ops LIST         of write, read, send (default all)\n"
		"      --sizes LIST       message sizes (default 64-1M: 64, 256, ..., 1M)\n"
		"  -n, --iters N          operations per size, memory and test (default 1000)\n"
		"      --depth N          work requests in flight for bandwidth (default 32)\n"
		"      --reg-sizes LIST   registration sizes, 'none' to skip (default 64K-1G)\n"
		"      --mem LIST         host, bar or both (default host,bar)\n"
		"      --verify           RDMA WRITE a pattern into the BAR MR and read the BAR\n"
		"                         back through VFIO (and the reverse with RDMA READ)\n"
		"  LIST: comma separated; a size range A-B is A, 4A, 16A, ... and B.\n");
}

static int parse_names(const char *text, const char *const *names, unsigned int nr,
		       unsigned int *mask)
{
	char *copy = strdup(text), *item, *save = NULL;
	unsigned int i;
	int ret = 0;

	*mask = 0;
	if (!copy)
		return ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < nr && strcmp(item, names[i]); i++)
			;
		if (i == nr)
			ret = EINVAL;
		else
			*mask |= 1u << i;
	}
	free(copy);
	return ret || !*mask ? EINVAL : 0;
}

static int parse_uint(const char *text, unsigned int max, unsigned int *v)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(text, &end, 0);
	if (errno || end == text || *end || n > max)
		return EINVAL;
	*v = n;
	return 0;
}

enum { OPT_OPS = 256, OPT_SIZES, OPT_REG_SIZES, OPT_MEM, OPT_VERIFY, OPT_DEPTH };

static const struct option bench_long_opts[] = {
	{ "bar", required_argument, NULL, 'b' },
	RDMA_OPT_IB_DEV,
	RDMA_OPT_IB_PORT,
	RDMA_OPT_GID_INDEX,
	{ "iters", required_argument, NULL, 'n' },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "sizes", required_argument, NULL, OPT_SIZES },
	{ "reg-sizes", required_argument, NULL, OPT_REG_SIZES },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int bad_option(const char *name, const char *value)
{
	fprintf(stderr, "p2pmr bench: bad %s '%s' (see p2pmr bench --help)\n", name, value);
	return 2;
}

/* 0, 1 (--help shown), or the exit status 2 for a usage error. */
static int parse_one(struct bench_opts *o, int c, const char *arg)
{
	unsigned int v, mask;
	int ret;

	ret = rdma_opt(&o->rdma, c, arg, "p2pmr bench");
	if (ret != ENOENT)
		return ret ? 2 : 0;
	switch (c) {
	case 'b':
		if (parse_uint(arg, P2PMR_MAX_BARS - 1, &v))
			return bad_option("BAR", arg);
		o->bar = v;
		return 0;
	case 'n':
		if (parse_uint(arg, 100000000, &o->iters) || !o->iters)
			return bad_option("iteration count", arg);
		return 0;
	case OPT_DEPTH:
		if (parse_uint(arg, 1024, &o->depth) || !o->depth)
			return bad_option("depth", arg);
		return 0;
	case OPT_OPS:
		return parse_names(arg, op_names, OP_COUNT, &o->ops) ? bad_option("--ops", arg) : 0;
	case OPT_MEM:
		if (parse_names(arg, mem_names, MEM_KINDS, &mask))
			return bad_option("--mem", arg);
		o->mem[MEM_HOST] = mask & (1u << MEM_HOST);
		o->mem[MEM_BAR] = mask & (1u << MEM_BAR);
		return 0;
	case OPT_SIZES:
		return parse_size_list(arg, &o->sizes) ? bad_option("--sizes", arg) : 0;
	case OPT_REG_SIZES:
		if (!strcmp(arg, "none")) {
			o->reg_sizes.nr = 0;
			return 0;
		}
		return parse_size_list(arg, &o->reg_sizes) ? bad_option("--reg-sizes", arg) : 0;
	case OPT_VERIFY:
		o->verify = true;
		return 0;
	case 'h':
		bench_usage(stdout);
		return 1;
	default:
		bench_usage(stderr);
		return 2;
	}
}

static int check_opts(struct bench_opts *o)
{
	if (!o->pci && (o->mem[MEM_BAR] || o->verify)) {
		fprintf(stderr, "p2pmr bench: name the PCI device (or use --mem host)\n");
		return 2;
	}
	if (o->pci && o->bar < 0) {
		fprintf(stderr, "p2pmr bench: --bar N is needed with a PCI device\n");
		return 2;
	}
	if (o->verify && !o->mem[MEM_BAR]) {
		fprintf(stderr, "p2pmr bench: --verify needs the BAR (--mem bar)\n");
		return 2;
	}
	if (size_list_max(&o->sizes) > UINT32_MAX) {
		fprintf(stderr, "p2pmr bench: a message is at most 4 GiB - 1 bytes\n");
		return 2;
	}
	return 0;
}

static int parse_opts(struct bench_opts *o, int argc, char **argv)
{
	int c, ret;

	*o = (struct bench_opts){ .bar = -1, .iters = 1000, .depth = 32,
				  .ops = (1u << OP_COUNT) - 1,
				  .mem = { [MEM_HOST] = true, [MEM_BAR] = true } };
	rdma_opts_init(&o->rdma, NULL);
	parse_size_list("64-1M", &o->sizes);
	parse_size_list("64K-1G", &o->reg_sizes);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:n:h" RDMA_OPTS_SHORT, bench_long_opts,
				NULL)) != -1) {
		ret = parse_one(o, c, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc)
		o->pci = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "p2pmr bench: unexpected '%s'\n", argv[optind]);
		return 2;
	}
	return check_opts(o);
}

static void *alloc_host(uint64_t len)
{
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (buf == MAP_FAILED)
		return NULL;
	memset(buf, 0x5a, len);		/* every page present before it is pinned */
	return buf;
}

static int fail_errno(const char *what)
{
	fprintf(stderr, "p2pmr bench: %s: %s\n", what, strerror(errno));
	return 1;
}

static int setup_host_target(struct bench *b)
{
	struct target *t = &b->target[MEM_HOST];

	t->host_buf = alloc_host(b->data_len);
	if (!t->host_buf)
		return fail_errno("cannot allocate the host target buffer");
	t->host_mr = ibv_reg_mr(b->loop.pd, t->host_buf, b->data_len, MR_ACCESS);
	if (!t->host_mr)
		return fail_errno("ibv_reg_mr of the host target failed");
	t->addr = (uintptr_t)t->host_buf;
	t->lkey = t->host_mr->lkey;
	t->rkey = t->host_mr->rkey;
	return 0;
}

static int open_bar(struct bench *b)
{
	char have[32], largest[32], need[32];
	struct p2pmr_range whole;
	int ret;

	ret = p2pmr_device_open(b->opts.pci, P2PMR_VFIO_API_AUTO, &b->dev);
	if (!ret)
		ret = p2pmr_device_bar_info(b->dev, b->opts.bar, &b->bar);
	if (ret) {
		fprintf(stderr, "p2pmr bench: %s\n", p2pmr_last_error());
		return 1;
	}
	if (!b->bar.size || !b->bar.is_memory) {
		fprintf(stderr, "p2pmr bench: BAR %d of %s is not a memory BAR\n", b->opts.bar,
			b->opts.pci);
		return 1;
	}
	if (b->opts.mem[MEM_BAR] && b->data_len > b->bar.size) {
		fprintf(stderr,
			"p2pmr bench: BAR %d of %s is too small: it has %s bytes, messages up to %s need %s (lower --sizes)\n",
			b->opts.bar, b->opts.pci, format_size(b->bar.size, have, sizeof(have)),
			format_size(size_list_max(&b->opts.sizes), largest, sizeof(largest)),
			format_size(b->data_len, need, sizeof(need)));
		return 1;
	}
	whole = (struct p2pmr_range){ .offset = 0, .length = b->bar.size };
	if (p2pmr_dmabuf_export(b->dev, b->opts.bar, &whole, 1, &b->dmabuf_fd)) {
		fprintf(stderr, "p2pmr bench: %s\n", p2pmr_last_error());
		return 1;
	}
	return 0;
}

static int setup_bar_target(struct bench *b)
{
	struct target *t = &b->target[MEM_BAR];

	t->bar_mr = p2pmr_reg_dmabuf_mr(b->loop.pd, 0, b->data_len, 0, b->dmabuf_fd, MR_ACCESS);
	if (!t->bar_mr) {
		fprintf(stderr, "p2pmr bench: registering BAR %d of %s as an MR failed: %s\n",
			b->opts.bar, b->opts.pci, p2pmr_last_error());
		return 1;
	}
	t->addr = t->bar_mr->iova;
	t->lkey = t->bar_mr->lkey;
	t->rkey = t->bar_mr->rkey;
	printf("BAR MR: %s bytes of BAR %d of %s, lkey 0x%x, registered %s\n",
	       format_size(b->data_len, (char[32]){ 0 }, 32), b->opts.bar, b->opts.pci,
	       t->lkey, p2pmr_mr_is_fallback(t->bar_mr) ?
	       "through the uverbs fallback" : "by the provider (ibv_reg_dmabuf_mr)");
	return 0;
}

static int setup(struct bench *b)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	int ret;

	b->dmabuf_fd = -1;
	b->progress = isatty(STDERR_FILENO);
	b->data_len = (size_list_max(&b->opts.sizes) + page - 1) & ~(page - 1);
	if (b->opts.pci) {
		ret = open_bar(b);
		if (ret)
			return ret;
	}
	if (loop_open(&b->loop, &b->opts.rdma, b->opts.depth)) {
		fprintf(stderr, "p2pmr bench: %s\n", p2pmr_last_error());
		return 1;
	}
	b->local_buf = alloc_host(b->data_len);
	if (!b->local_buf)
		return fail_errno("cannot allocate the local buffer");
	b->local_mr = ibv_reg_mr(b->loop.pd, b->local_buf, b->data_len, MR_ACCESS);
	if (!b->local_mr)
		return fail_errno("ibv_reg_mr of the local buffer failed");
	if (b->opts.mem[MEM_HOST] && setup_host_target(b))
		return 1;
	if (b->opts.mem[MEM_BAR] && setup_bar_target(b))
		return 1;
	return 0;
}

static void teardown(struct bench *b)
{
	struct target *host = &b->target[MEM_HOST];

	if (b->target[MEM_BAR].bar_mr && p2pmr_dereg_mr(b->target[MEM_BAR].bar_mr))
		fprintf(stderr, "p2pmr bench: %s\n", p2pmr_last_error());
	if (host->host_mr)
		ibv_dereg_mr(host->host_mr);
	if (host->host_buf)
		munmap(host->host_buf, b->data_len);
	if (b->local_mr)
		ibv_dereg_mr(b->local_mr);
	if (b->local_buf)
		munmap(b->local_buf, b->data_len);
	if (b->loop.ctx)
		loop_close(&b->loop);
	if (b->dmabuf_fd >= 0)
		close(b->dmabuf_fd);
	if (b->dev)
		p2pmr_device_close(b->dev);
}

static int post_op(struct bench *b, enum bench_op op, const struct target *t, uint32_t size)
{
	struct ibv_sge local = { (uintptr_t)b->local_buf, size, b->local_mr->lkey };
	struct ibv_sge target = { t->addr, size, t->lkey };
	int ret;

	switch (op) {
	case OP_WRITE:
		return loop_post_send(&b->loop, IBV_WR_RDMA_WRITE, &local, t->addr, t->rkey);
	case OP_READ:
		return loop_post_send(&b->loop, IBV_WR_RDMA_READ, &local, t->addr, t->rkey);
	default:
		ret = loop_post_recv(&b->loop, &target);
		return ret ? ret : loop_post_send(&b->loop, IBV_WR_SEND, &local, 0, 0);
	}
}

struct op_args {
	struct bench *b;
	enum bench_op op;
	const struct target *t;
	uint32_t size;
};

static int post_nth(void *arg, uint64_t i)
{
	const struct op_args *a = arg;

	(void)i;
	return post_op(a->b, a->op, a->t, a->size);
}

/* n operations, at most window in flight; *seconds is the time they took. */
static int run_ops(struct bench *b, enum bench_op op, enum mem_kind mem, uint32_t size,
		   unsigned int n, unsigned int window, double *seconds)
{
	struct op_args args = { b, op, &b->target[mem], size };

	if (!loop_run(&b->loop, n, window, op == OP_SEND, post_nth, &args, seconds))
		return 0;
	fprintf(stderr, "\np2pmr bench: %s of %u bytes to %s memory: %s\n", op_names[op], size,
		mem_names[mem], p2pmr_last_error());
	return 1;
}

struct cell {
	double bw_seconds, lat_seconds;
	uint64_t ops;
};

static int measure_round(struct bench *b, enum bench_op op, uint32_t size, unsigned int n,
			 unsigned int round, struct cell *cells)
{
	double s;
	int i;

	for (i = 0; i < MEM_KINDS; i++) {
		/* Alternate which memory goes first, so that neither always warms up the other. */
		enum mem_kind mem = (i + round) % MEM_KINDS;

		if (!b->opts.mem[mem])
			continue;
		if (run_ops(b, op, mem, size, n, b->opts.depth, &s))
			return 1;
		cells[mem].bw_seconds += s;
		if (run_ops(b, op, mem, size, n, 1, &s))
			return 1;
		cells[mem].lat_seconds += s;
		cells[mem].ops += n;
	}
	return 0;
}

static void print_ratio(double bar, double host, bool have_both)
{
	if (have_both && host > 0)
		printf("  %8.2f", bar / host);
	else
		printf("  %8s", "-");
}

static void print_value(double v, bool have)
{
	if (have)
		printf("  %11.2f", v);
	else
		printf("  %11s", "-");
}

static void print_cells(enum bench_op op, uint64_t size, const struct cell *cells,
			const bool *mem)
{
	double bw[MEM_KINDS] = { 0 }, lat[MEM_KINDS] = { 0 };
	bool both = mem[MEM_HOST] && mem[MEM_BAR];
	char text[32];
	int i;

	for (i = 0; i < MEM_KINDS; i++) {
		if (!mem[i] || !cells[i].ops)
			continue;
		bw[i] = size * cells[i].ops / cells[i].bw_seconds / 1e6;
		lat[i] = cells[i].lat_seconds / cells[i].ops * 1e6;
	}
	printf("%-5s  %6s", op_names[op], format_size(size, text, sizeof(text)));
	print_value(bw[MEM_HOST], mem[MEM_HOST]);
	print_value(bw[MEM_BAR], mem[MEM_BAR]);
	print_ratio(bw[MEM_BAR], bw[MEM_HOST], both);
	print_value(lat[MEM_HOST], mem[MEM_HOST]);
	print_value(lat[MEM_BAR], mem[MEM_BAR]);
	print_ratio(lat[MEM_BAR], lat[MEM_HOST], both);
	printf("\n");
}

static void show_progress(struct bench *b, const char *what, unsigned int step,
			  unsigned int steps)
{
	if (b->progress)
		fprintf(stderr, "\r%-40s %u/%u ", what, step, steps);
}

static void end_progress(struct bench *b)
{
	if (b->progress)
		fprintf(stderr, "\r%60s\r", "");
}

static int bench_data(struct bench *b)
{
	const struct bench_opts *o = &b->opts;
	unsigned int step = 0, steps = 0, op, i, round, n;
	char what[64], text[32];
	struct cell cells[MEM_KINDS];

	for (op = 0; op < OP_COUNT; op++)
		steps += (o->ops >> op & 1) * o->sizes.nr;
	printf("\ndata path: %s port %u, %u operations per cell in %d interleaved rounds, depth %u\n",
	       b->loop.dev_name, b->loop.port, o->iters, BENCH_ROUNDS, o->depth);
	printf("%-5s  %6s  %11s  %11s  %8s  %11s  %11s  %8s\n", "op", "size", "host MB/s",
	       "BAR MB/s", "BAR/host", "host lat us", "BAR lat us", "BAR/host");
	for (op = 0; op < OP_COUNT; op++) {
		if (!(o->ops >> op & 1))
			continue;
		for (i = 0; i < o->sizes.nr; i++) {
			snprintf(what, sizeof(what), "bench: %s %s", op_names[op],
				 format_size(o->sizes.size[i], text, sizeof(text)));
			show_progress(b, what, ++step, steps);
			memset(cells, 0, sizeof(cells));
			for (round = 0; round < BENCH_ROUNDS; round++) {
				n = o->iters / BENCH_ROUNDS + (round < o->iters % BENCH_ROUNDS);
				if (n && measure_round(b, op, o->sizes.size[i], n, round, cells))
					return 1;
			}
			end_progress(b);
			print_cells(op, o->sizes.size[i], cells, o->mem);
			fflush(stdout);
		}
	}
	return 0;
}

/* Register and deregister once; *seconds: the registration alone. */
static int time_reg(struct bench *b, enum mem_kind mem, void *host_buf, uint64_t size,
		    double *seconds)
{
	struct p2pmr_mr *bar_mr = NULL;
	struct ibv_mr *host_mr = NULL;
	double start = loop_now();

	if (mem == MEM_BAR)
		bar_mr = p2pmr_reg_dmabuf_mr(b->loop.pd, 0, size, 0, b->dmabuf_fd, MR_ACCESS);
	else
		host_mr = ibv_reg_mr(b->loop.pd, host_buf, size, MR_ACCESS);
	*seconds = loop_now() - start;
	if (!bar_mr && !host_mr) {
		fprintf(stderr, "\np2pmr bench: registering %" PRIu64 " bytes of %s memory failed: %s\n",
			size, mem_names[mem], mem == MEM_BAR ? p2pmr_last_error() : strerror(errno));
		return 1;
	}
	if (bar_mr)
		p2pmr_dereg_mr(bar_mr);
	else
		ibv_dereg_mr(host_mr);
	return 0;
}

static int reg_row(struct bench *b, void *host_buf, uint64_t size)
{
	double total[MEM_KINDS] = { 0 }, s;
	unsigned int round;
	char text[32];
	int i;

	for (round = 0; round < REG_ROUNDS; round++) {
		for (i = 0; i < MEM_KINDS; i++) {
			enum mem_kind mem = (i + round) % MEM_KINDS;

			if (!b->opts.mem[mem])
				continue;
			if (time_reg(b, mem, host_buf, size, &s))
				return 1;
			total[mem] += s;
		}
	}
	printf("%6s", format_size(size, text, sizeof(text)));
	print_value(total[MEM_HOST] / REG_ROUNDS * 1e6, b->opts.mem[MEM_HOST]);
	print_value(total[MEM_BAR] / REG_ROUNDS * 1e6, b->opts.mem[MEM_BAR]);
	print_ratio(total[MEM_BAR], total[MEM_HOST], b->opts.mem[MEM_HOST] && b->opts.mem[MEM_BAR]);
	printf("\n");
	return 0;
}

/*
 * One untimed registration of each kind, of the smallest size: the first
 * registration of a process pays for set-up that the others do not.
 */
static int warm_up_reg(struct bench *b, void *host_buf, uint64_t size)
{
	double s;
	int i;

	for (i = 0; i < MEM_KINDS; i++)
		if (b->opts.mem[i] && time_reg(b, i, host_buf, size, &s))
			return 1;
	return 0;
}

/* Sizes above the BAR cannot be compared: they are listed as skipped. */
static uint64_t reg_limit(const struct bench *b)
{
	uint64_t max = size_list_max(&b->opts.reg_sizes);

	return b->dev && b->bar.size < max ? b->bar.size : max;
}

static int bench_reg(struct bench *b)
{
	const struct size_list *sizes = &b->opts.reg_sizes;
	uint64_t limit = reg_limit(b), size;
	char text[32], bar_text[32];
	void *host_buf = NULL;
	unsigned int i;
	int ret = 0;

	printf("\nregistration: p2pmr_reg_dmabuf_mr of the BAR dma-buf vs ibv_reg_mr of host memory, mean of %d after a warm-up\n",
	       REG_ROUNDS);
	printf("%6s  %11s  %11s  %8s\n", "size", "host us", "BAR us", "BAR/host");
	if (b->opts.mem[MEM_HOST]) {
		host_buf = alloc_host(limit);
		if (!host_buf)
			return fail_errno("cannot allocate host memory to register");
	}
	ret = warm_up_reg(b, host_buf, sizes->size[0] < limit ? sizes->size[0] : limit);
	for (i = 0; i < sizes->nr && !ret; i++) {
		size = sizes->size[i];
		if (size > limit) {
			printf("%6s  skipped: larger than BAR %d of %s (%s bytes)\n",
			       format_size(size, text, sizeof(text)), b->opts.bar, b->opts.pci,
			       format_size(b->bar.size, bar_text, sizeof(bar_text)));
			continue;
		}
		show_progress(b, "bench: registration", i + 1, sizes->nr);
		ret = reg_row(b, host_buf, size);
		end_progress(b);
		fflush(stdout);
	}
	if (host_buf)
		munmap(host_buf, limit);
	return ret;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = x;
	}
}

static int compare(const uint8_t *want, const volatile uint8_t *got, size_t len,
		   const char *what)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (want[i] != got[i]) {
			fprintf(stderr, "p2pmr bench: verify: %s: byte %zu is 0x%02x, expected 0x%02x\n",
				what, i, got[i], want[i]);
			return 1;
		}
	}
	return 0;
}

static int verify_bar(struct bench *b)
{
	size_t len = b->data_len < VERIFY_MAX ? b->data_len : VERIFY_MAX, bar_len;
	uint32_t seed = (uint32_t)time(NULL);
	uint8_t *want;
	void *bar;
	double s;
	int ret;

	if (p2pmr_bar_mmap(b->dev, b->opts.bar, &bar, &bar_len)) {
		fprintf(stderr, "p2pmr bench: verify: %s\n", p2pmr_last_error());
		return 1;
	}
	want = malloc(len);
	ret = !want;
	if (!ret) {
		fill_pattern(b->local_buf, len, seed);
		memcpy(want, b->local_buf, len);
		ret = run_ops(b, OP_WRITE, MEM_BAR, len, 1, 1, &s) ||
		      compare(want, bar, len, "RDMA WRITE into the BAR MR, read through VFIO mmap");
	}
	if (!ret) {
		fill_pattern(want, len, ~seed);
		memcpy(bar, want, len);
		memset(b->local_buf, 0, len);
		ret = run_ops(b, OP_READ, MEM_BAR, len, 1, 1, &s) ||
		      compare(want, b->local_buf, len, "written through VFIO mmap, RDMA READ from the BAR MR");
	}
	if (!ret)
		printf("\nverify: %zu bytes RDMA-written into BAR %d read back through VFIO mmap, and %zu bytes written through mmap RDMA-read back: all match\n",
		       len, b->opts.bar, len);
	free(want);
	p2pmr_bar_munmap(bar, bar_len);
	return ret;
}

int bench_main(int argc, char **argv)
{
	struct bench b = { 0 };
	int ret;

	ret = parse_opts(&b.opts, argc, argv);
	if (ret)
		return ret == 1 ? 0 : ret;
	ret = setup(&b);
	if (!ret && b.opts.ops)
		ret = bench_data(&b);
	if (!ret && b.opts.reg_sizes.nr)
		ret = bench_reg(&b);
	if (!ret && b.opts.verify)
		ret = verify_bar(&b);
	teardown(&b);
	return ret;
}
