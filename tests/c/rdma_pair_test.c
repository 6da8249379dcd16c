// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * rdma-pair-test: RDMA between two machines into a VFIO BAR. The server
 * exports a range of a BAR as a dma-buf and registers it as an MR; the
 * client RDMA WRITEs a pattern into it from host memory, reads it back
 * with RDMA READ and compares; the server then finds the pattern in the
 * host file behind the BAR (ivshmem).
 *
 *   rdma-pair-test server --device BDF [--bar N] --offset O --length L
 *                  [--ib-dev NAME] [--gid-index N] [--file F --seed S]
 *   rdma-pair-test client --length L --seed S [--msg M] [--ib-dev NAME]
 *                  [--gid-index N]
 *   rdma-pair-test check --file F --offset O --length L --seed S
 *
 *   --device  the exporting device (bound to vfio-pci); --bar its BAR (2)
 *   --offset  where the MR starts in the BAR; --length its size (page
 *             multiples; sizes take K, M, G)
 *   --ib-dev  the RDMA device (rxe0); --gid-index the local GID index (0)
 *   --file    the host file backing the BAR, checked for the pattern of
 *             --seed once the client is done
 *   --msg     bytes per RDMA WRITE or READ (64K)
 *   check     only compare --file at --offset with the pattern (the host's
 *             view, after the guests are gone)
 *
 * The two sides talk through the caller, one line at a time: each prints a
 * line on stdout, the caller hands it to the other side's stdin.
 *   1. both: "qpn Q gid G rkey R iova I length L" (G as inet_ntop writes an
 *      IPv6 address; the client's rkey and iova are its buffer's, unused);
 *   2. both connect their QP to the peer's, print "ready" and read the
 *      peer's "ready": the client writes only once the server's QP is RTR;
 *   3. the client writes, reads back and compares, prints "done" (or
 *      "failed"); the server reads that line, checks --file, deregisters.
 * Messages for people go to stderr. Exit status 0 when everything held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "p2pmr.h"
#include "pattern.h"
#include "rdma_opts.h"
#include "sizes.h"
#include "verbs_qp.h"
#include "vfio_ctl.h"

#define KIB		1024
/* The MR's own address space: any base with the BAR offset's page offset. */
#define IOVA_BASE	0x7f0000000000ULL
#define PAIR_DEPTH	32
/* How long one completion may take: emulated guests with debug kernels. */
#define PAIR_WAIT_MS	60000
#define LINE_MAX_LEN	256

struct opts {
	const char *role;
	const char *device;
	struct rdma_opts rdma;	/* --ib-dev, --gid-index */
	const char *file;
	unsigned int bar;
	uint64_t offset;
	uint64_t length;
	uint64_t msg;
	uint64_t seed;
	bool have_seed;
};

/* This side's verbs objects: one RC QP and its CQ. */
struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	union ibv_gid gid;
	enum ibv_mtu mtu;
};

/* What the other side said in step 1. */
struct peer {
	uint32_t qpn;
	union ibv_gid gid;
	uint32_t rkey;
	uint64_t iova;
	uint64_t length;
};

static int side_open(struct side *s, const struct opts *o)
{
	memset(s, 0, sizeof(*s));
	s->ctx = verbs_open(o->rdma.ib_dev);
	if (!s->ctx)
		return 1;
	CHECK_OK(verbs_port(s->ctx, o->rdma.gid_index, &s->gid, &s->mtu));
	s->pd = ibv_alloc_pd(s->ctx);
	if (!s->pd)
		return fail("ibv_alloc_pd: %s", strerror(errno));
	s->cq = cq_create(s->ctx, 2 * PAIR_DEPTH);
	if (!s->cq)
		return fail("creating the CQ: %s", strerror(errno));
	CHECK_OK(qp_create(s->pd, s->cq, PAIR_DEPTH, &s->qp));
	return 0;
}

static void side_close(struct side *s)
{
	ibv_destroy_qp(s->qp);
	cq_destroy(s->cq);
	ibv_dealloc_pd(s->pd);
	ibv_close_device(s->ctx);
}

/* One line of the peer's (through the caller), without its newline. */
static int read_line(char *line, const char *want)
{
	size_t n;

	if (!fgets(line, LINE_MAX_LEN, stdin))
		return fail("stdin ended while waiting for %s", want);
	n = strcspn(line, "\n");
	line[n] = '\0';
	return 0;
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* Step 1: our QP, GID and memory out, the peer's in. */
static int trade_info(const struct side *s, uint32_t rkey, uint64_t iova, uint64_t length,
		      struct peer *p)
{
	char gid[INET6_ADDRSTRLEN], line[LINE_MAX_LEN];
	int end = 0;

	if (!inet_ntop(AF_INET6, s->gid.raw, gid, sizeof(gid)))
		return fail("inet_ntop: %s", strerror(errno));
	printf("qpn %u gid %s rkey 0x%x iova 0x%" PRIx64 " length %" PRIu64 "\n",
	       s->qp->qp_num, gid, rkey, iova, length);
	fflush(stdout);
	if (read_line(line, "the peer's QP line"))
		return 1;
	if (sscanf(line, "qpn %" SCNu32 " gid %45s rkey 0x%" SCNx32 " iova 0x%" SCNx64
		   " length %" SCNu64 "%n", &p->qpn, gid, &p->rkey, &p->iova, &p->length,
		   &end) != 5 || line[end] || inet_pton(AF_INET6, gid, p->gid.raw) != 1)
		return fail("the peer's QP line is '%s'", line);
	return 0;
}

/* Step 2: connect, then meet the peer connected too. */
static int connect_peer(const struct side *s, const struct opts *o, const struct peer *p)
{
	char line[LINE_MAX_LEN];

	CHECK_OK(qp_connect(s->qp, p->qpn, &p->gid, o->rdma.gid_index, s->mtu));
	say("ready");
	if (read_line(line, "the peer's \"ready\""))
		return 1;
	if (strcmp(line, "ready"))
		return fail("expected the peer's \"ready\", got '%s'", line);
	return 0;
}

/* Fail unless @len bytes at @w are the pattern of @seed; @where names them. */
static int check_pattern(const uint64_t *w, uint64_t len, uint64_t seed, const char *where,
			 uint64_t base)
{
	uint64_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, i))
			return fail("%s: the 8 bytes at 0x%" PRIx64 " are 0x%016" PRIx64
				    ", expected 0x%016" PRIx64 " (pattern of seed 0x%" PRIx64 ")",
				    where, base + 8 * i, w[i], pattern_word(seed, i), seed);
	return 0;
}

static int check_file(const struct opts *o)
{
	uint64_t *buf = malloc(o->length);
	int ret;

	if (!buf)
		return fail("no memory for %" PRIu64 " bytes", o->length);
	ret = host_file_read(o->file, o->offset, buf, o->length);
	if (ret)
		ret = fail("%s: reading %" PRIu64 " bytes at 0x%" PRIx64 ": %s", o->file,
			   o->length, o->offset, strerror(-ret));
	else
		ret = check_pattern(buf, o->length, o->seed, o->file, o->offset);
	free(buf);
	if (!ret)
		fprintf(stderr, "%s: the %" PRIu64 " KiB at 0x%" PRIx64
			" hold the pattern of seed 0x%" PRIx64 "\n",
			o->file, o->length / KIB, o->offset, o->seed);
	return ret;
}

static int run_server(const struct opts *o)
{
	struct p2pmr_range range = { o->offset, o->length };
	uint64_t iova = IOVA_BASE + o->offset;
	char line[LINE_MAX_LEN];
	struct p2pmr_device *dev;
	struct p2pmr_mr *mr;
	struct side s;
	struct peer p;
	int fd;

	if (p2pmr_device_open(o->device, P2PMR_VFIO_API_AUTO, &dev) ||
	    p2pmr_dmabuf_export(dev, o->bar, &range, 1, &fd))
		return fail("%s", p2pmr_last_error());
	if (side_open(&s, o))
		return 1;
	mr = p2pmr_reg_dmabuf_mr(s.pd, 0, o->length, iova, fd, IBV_ACCESS_LOCAL_WRITE |
				 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr)
		return fail("p2pmr_reg_dmabuf_mr: %s", p2pmr_last_error());
	fprintf(stderr, "server: %s BAR%u+0x%" PRIx64 " (%" PRIu64 " KiB) registered through %s: rkey 0x%x, iova 0x%" PRIx64 "\n",
		o->device, o->bar, o->offset, o->length / KIB,
		p2pmr_mr_is_fallback(mr) ? "UVERBS_METHOD_REG_DMABUF_MR" : "ibv_reg_dmabuf_mr",
		mr->rkey, mr->iova);
	if (trade_info(&s, mr->rkey, mr->iova, o->length, &p) || connect_peer(&s, o, &p))
		return 1;
	if (read_line(line, "the client's \"done\""))
		return 1;
	if (strcmp(line, "done"))
		return fail("expected the client's \"done\", got '%s'", line);
	if (o->file && check_file(o))
		return 1;
	CHECK_LIB(p2pmr_dereg_mr(mr));
	side_close(&s);
	close(fd);
	p2pmr_device_close(dev);
	return 0;
}

/* RDMA @op of [@buf, +@len) to or from the peer's MR, @msg bytes a request. */
static int transfer(const struct side *s, enum ibv_wr_opcode op, uint8_t *buf, uint32_t lkey,
		    const struct peer *p, uint64_t len, uint64_t msg)
{
	uint64_t off = 0, n, nr = (len + msg - 1) / msg, posted = 0, done = 0;
	long long t0 = verbs_now_ms();
	struct ibv_wc wc;

	while (done < nr) {
		for (; posted < nr && posted - done < PAIR_DEPTH; posted++, off += n) {
			n = len - off < msg ? len - off : msg;
			CHECK_OK(qp_post(s->qp, op, (uintptr_t)buf + off, n, lkey,
					 p->iova + off, p->rkey, 0, 0));
		}
		CHECK_OK(cq_wait(s->cq, &wc, verbs_now_ms() + PAIR_WAIT_MS));
		if (wc.status != IBV_WC_SUCCESS)
			return fail("%s %" PRIu64 " of %" PRIu64 ": %s",
				    op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ",
				    done + 1, nr, ibv_wc_status_str(wc.status));
		done++;
	}
	fprintf(stderr, "client: %s of %" PRIu64 " KiB in %" PRIu64 " requests of %" PRIu64
		" KiB: %lld ms\n", op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ",
		len / KIB, nr, msg / KIB, verbs_now_ms() - t0);
	return 0;
}

static int run_client(const struct opts *o)
{
	uint64_t len = o->length;
	uint8_t *buf;
	struct ibv_mr *mr;
	struct side s;
	struct peer p;

	/* The pattern in the first half, what RDMA READ brings in the second. */
	buf = aligned_alloc(sysconf(_SC_PAGESIZE), 2 * len);
	if (!buf)
		return fail("no memory for %" PRIu64 " bytes", 2 * len);
	pattern_fill((uint64_t *)buf, len, o->seed);
	memset(buf + len, 0, len);
	if (side_open(&s, o))
		return 1;
	mr = ibv_reg_mr(s.pd, buf, 2 * len, IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		return fail("ibv_reg_mr: %s", strerror(errno));
	if (trade_info(&s, mr->rkey, (uintptr_t)buf, len, &p) || connect_peer(&s, o, &p))
		return 1;
	if (p.length < len)
		return fail("the server's MR has %" PRIu64 " bytes, %" PRIu64 " wanted",
			    p.length, len);
	if (transfer(&s, IBV_WR_RDMA_WRITE, buf, mr->lkey, &p, len, o->msg) ||
	    transfer(&s, IBV_WR_RDMA_READ, buf + len, mr->lkey, &p, len, o->msg) ||
	    check_pattern((uint64_t *)(buf + len), len, o->seed, "RDMA READ from the server",
			  0))
		return 1;
	fprintf(stderr, "client: the %" PRIu64 " KiB written into the server's MR read back intact\n",
		len / KIB);
	say("done");
	ibv_dereg_mr(mr);
	side_close(&s);
	free(buf);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rdma-pair-test server --device BDF [--bar N] --offset O --length L [--ib-dev NAME] [--gid-index N] [--file F --seed S]\n"
		"       rdma-pair-test client --length L --seed S [--msg M] [--ib-dev NAME] [--gid-index N]\n"
		"       rdma-pair-test check --file F --offset O --length L --seed S\n");
}

/* Each role's required options given, sizes that the export and the pattern take. */
static bool opts_valid(const struct opts *o)
{
	long page = sysconf(_SC_PAGESIZE);

	if (!o->length || o->length % page || o->offset % page || !o->msg ||
	    o->msg > UINT32_MAX)
		return false;
	if (!strcmp(o->role, "server"))
		return o->device && (!o->file || o->have_seed);
	if (!strcmp(o->role, "client"))
		return o->have_seed;
	if (!strcmp(o->role, "check"))
		return o->file && o->have_seed;
	return false;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'D' },
		{ "bar", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		RDMA_OPT_IB_DEV,
		RDMA_OPT_GID_INDEX,
		{ "file", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "msg", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .bar = 2, .msg = 64 * KIB };
	char *end = NULL;
	int opt, ret, bad = 0;

	rdma_opts_init(&o.rdma, "rxe0");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		ret = rdma_opt(&o.rdma, opt, optarg, "rdma-pair-test");
		if (ret != ENOENT) {
			bad |= ret;
			continue;
		}
		switch (opt) {
		case 'D':
			o.device = optarg;
			break;
		case 'b':
			o.bar = atoi(optarg);
			break;
		case 'o':
			bad |= parse_size(optarg, &o.offset);
			break;
		case 'l':
			bad |= parse_size(optarg, &o.length);
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'm':
			bad |= parse_size(optarg, &o.msg);
			break;
		case 's':
			errno = 0;
			o.seed = strtoull(optarg, &end, 0);
			bad |= errno || *end;
			o.have_seed = true;
			break;
		default:
			bad = 1;
			break;
		}
	}
	if (optind != argc - 1)
		bad = 1;
	else
		o.role = argv[optind];
	if (bad || !opts_valid(&o)) {
		usage();
		return 2;
	}
	if (!strcmp(o.role, "check"))
		return check_file(&o);
	if (!strcmp(o.role, "server"))
		return run_server(&o);
	if (run_client(&o)) {
		say("failed");
		return 1;
	}
	return 0;
}
