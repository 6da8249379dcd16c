// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: a randomized, concurrent fuzzer of the VFIO dma-buf exporter
 * and its importers (rxe MRs through ib_core, the dma-buf test importer),
 * made for the bugs of MR registrations racing with vfio-pci revoking the
 * dma-buf.
 *
 *   p2pmr-fuzz --device BDF [--bar N] [--ib-dev NAME] [--gid-index N] [--file F]
 *              [--seed N] [--threads N] [--seconds S] [--watchdog S]
 *              [--importer BDF] [--heavy] [--verbose]
 *
 *   --device    the device bound to vfio-pci; --bar its memory BAR (2)
 *   --ib-dev    the RDMA device (rxe0), --gid-index its GID index (0)
 *   --file      the host file behind the BAR (ivshmem): checked transfers
 *   --seed      the seed to replay (default: from /dev/urandom), printed
 *   --threads   threads (4), --seconds how long (60)
 *   --watchdog  an operation running longer than this is a hang (60 s)
 *   --importer  another PCI device for the test importer to attach as
 *   --heavy     also unbind the device from vfio-pci and bind it again
 *
 * Each thread draws operations (fuzz_ops_*.c: export and dma-buf fd calls,
 * MRs and RDMA, the device's revoke triggers, the test importer), weighted,
 * with its own splitmix64 stream derived from the seed and its number: a
 * seed replays each thread's operations and arguments, not their
 * interleaving. Threads share the dma-bufs, MRs and importer sessions they
 * make (fuzz_pool.c). The operation counts and errnos per operation are
 * printed at the end, and a line with the seed goes to /dev/kmsg at the
 * start and the end, so that a kernel report can be tied to a run.
 *
 * Findings (exit status 1): an errno an operation cannot give (each
 * operation's list, e.g. EFAULT unless it passed a bad pointer on
 * purpose, any error from close, dereg or a config space access); an
 * outcome its model rules out (a request that must fail succeeded, a
 * valid one failed, a wrong size, a successful RDMA WRITE whose bytes are
 * not in the BAR); a work request without completion; dma-bufs, MRs or
 * fds left after everything was closed. A hang, an operation running
 * longer than --watchdog seconds, prints where every thread is (and its
 * kernel stack) and exits 2; 3 is bad usage or a failed set-up. Kernel
 * reports (KASAN, lockdep, WARN) are the harness's to see on the console.
 */
#define _GNU_SOURCE	/* strerrorname_np, gettid */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "check.h"
#include "fuzz.h"
#include "kcounts.h"
#include "pattern.h"
#include "vfio_ctl.h"
#include "verbs_qp.h"

#define SCRATCH_PAGES		20
#define CHECK_LEN		(64 * 1024)
#define MAX_PRINTED_FINDINGS	50
#define MAX_KMSG_FINDINGS	10
#define SETTLE_SECONDS		20	/* for deferred releases at the end */
#define OP_MAIN			INT32_MAX	/* t->op of the main thread at work */

static const struct fuzz_op *const op_tables[] = {
	fuzz_export_ops, fuzz_fd_ops, fuzz_mr_ops, fuzz_rdma_ops, fuzz_dev_ops,
	fuzz_importer_ops,
};

static struct fuzz *fuzz_global;	/* for findings outside a thread */
static struct fuzz_thread main_state;	/* the main thread, for the watchdog */

long long fz_now_ms(void)
{
	return verbs_now_ms();
}

const char *fz_errname(int err)
{
	static __thread char buf[24];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

static void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void kmsg(const char *fmt, ...)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	char line[512];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "<5>p2pmr-fuzz: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (write(fd, line, strlen(line)) < 0)
		perror("/dev/kmsg");
	close(fd);
}

void fz_note(struct fuzz_thread *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->where, sizeof(t->where), fmt, ap);
	va_end(ap);
	if (t->f->verbose)
		fprintf(stderr, "[%u] %s\n", t->id, t->where);
}

void fz_finding(struct fuzz_thread *t, const char *fmt, ...)
{
	struct fuzz *f = fuzz_global;
	unsigned long n = __atomic_add_fetch(&f->findings, 1, __ATOMIC_RELAXED);
	char msg[512], who[16] = "main";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t)
		snprintf(who, sizeof(who), "thread %u", t->id);
	if (n <= MAX_PRINTED_FINDINGS)
		fprintf(stderr, "p2pmr-fuzz: finding %lu (%s): %s\n", n, who, msg);
	if (n == MAX_PRINTED_FINDINGS)
		fprintf(stderr, "p2pmr-fuzz: further findings are counted, not printed\n");
	if (n <= MAX_KMSG_FINDINGS)
		kmsg("finding %lu, seed 0x%" PRIx64 ": %s\n", n, f->seed, msg);
}

void fz_wc(struct fuzz_thread *t, int status)
{
	int op = __atomic_load_n(&t->op, __ATOMIC_RELAXED);

	if (op >= 0 && op < (int)t->f->nr_ops)
		t->stats[op].wc[status >= 0 && status < FUZZ_WC_MAX ? status : FUZZ_WC_TIMEOUT]++;
}

struct p2pmr_device *fz_dev_get(struct fuzz *f)
{
	pthread_rwlock_rdlock(&f->dev_lock);
	if (f->dev)
		return f->dev;
	pthread_rwlock_unlock(&f->dev_lock);
	return NULL;
}

void fz_dev_put(struct fuzz *f)
{
	pthread_rwlock_unlock(&f->dev_lock);
}

/* The table of operations this run draws from, with their total weight. */
static int ops_init(struct fuzz *f)
{
	const struct fuzz_op *op;
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(op_tables); i++)
		for (op = op_tables[i]; op->name; op++)
			n++;
	f->ops = calloc(n, sizeof(*f->ops));
	if (!f->ops)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(op_tables); i++) {
		for (op = op_tables[i]; op->name; op++) {
			if (op->heavy && !f->heavy)
				continue;
			f->ops[f->nr_ops++] = op;
			f->total_weight += op->weight;
		}
	}
	return 0;
}

static unsigned int pick_op(struct fuzz_thread *t)
{
	uint64_t w = rng_below(&t->rng, t->f->total_weight);
	unsigned int i;

	for (i = 0; i < t->f->nr_ops - 1; i++) {
		if (w < t->f->ops[i]->weight)
			break;
		w -= t->f->ops[i]->weight;
	}
	return i;
}

static bool errno_allowed(const struct fuzz_op *op, int err, int allow)
{
	const int *e;

	if (err == allow)
		return true;
	for (e = op->errnos; e && *e; e++)
		if (*e == err)
			return true;
	return false;
}

static void count(struct fuzz_thread *t, unsigned int i, int ret)
{
	const struct fuzz_op *op = t->f->ops[i];
	struct op_stats *s = &t->stats[i];
	int err = -ret;

	s->runs++;
	if (ret == FUZZ_SKIP) {
		s->skipped++;
	} else if (!ret) {
		s->ok++;
	} else {
		s->err[err > 0 && err < FUZZ_ERRNO_MAX ? err : 0]++;
		if (!errno_allowed(op, err, t->allow))
			fz_finding(t, "%s: %s, which it cannot give (%s)", op->name,
				   fz_errname(err), t->where);
	}
}

/* What the watchdog looks at: which step @t is in, since when. */
static void step_begin(struct fuzz_thread *t, int op)
{
	__atomic_store_n(&t->op_start_ms, fz_now_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&t->op, op, __ATOMIC_RELEASE);
}

void fz_progress(struct fuzz_thread *t)
{
	__atomic_store_n(&t->op_start_ms, fz_now_ms(), __ATOMIC_RELAXED);
}

static void step_end(struct fuzz_thread *t)
{
	__atomic_store_n(&t->op, -1, __ATOMIC_RELEASE);
}

static void *thread_main(void *arg)
{
	struct fuzz_thread *t = arg;
	struct fuzz *f = t->f;
	unsigned int i;
	int ret;

	t->tid = gettid();
	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		i = pick_op(t);
		t->allow = 0;
		snprintf(t->where, sizeof(t->where), "%s", f->ops[i]->name);
		step_begin(t, i);
		ret = f->ops[i]->fn(t);
		step_end(t);
		count(t, i, ret);
		__atomic_add_fetch(&t->done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The main thread's step, watched like an operation. */
static void main_step(const char *what)
{
	snprintf(main_state.where, sizeof(main_state.where), "%s", what);
	step_begin(&main_state, OP_MAIN);
}

static void sum_stats(struct fuzz *f, struct op_stats *sum)
{
	unsigned int i, j, k;

	memset(sum, 0, f->nr_ops * sizeof(*sum));
	for (j = 0; j < f->threads; j++) {
		for (i = 0; i < f->nr_ops; i++) {
			const struct op_stats *s = &f->t[j].stats[i];

			sum[i].runs += s->runs;
			sum[i].ok += s->ok;
			sum[i].skipped += s->skipped;
			for (k = 0; k < FUZZ_ERRNO_MAX; k++)
				sum[i].err[k] += s->err[k];
			for (k = 0; k < FUZZ_WC_MAX; k++)
				sum[i].wc[k] += s->wc[k];
		}
	}
}

static void print_outcomes(const struct op_stats *s)
{
	const char *sep = "";
	unsigned int k;

	for (k = 1; k < FUZZ_ERRNO_MAX; k++)
		if (s->err[k]) {
			printf("%s%s %lu", sep, fz_errname(k), s->err[k]);
			sep = ", ";
		}
	if (s->err[0]) {
		printf("%sother %lu", sep, s->err[0]);
		sep = ", ";
	}
	for (k = 0; k < FUZZ_WC_MAX; k++)
		if (s->wc[k]) {
			printf("%s%s %lu", sep, k == FUZZ_WC_TIMEOUT ? "no completion" :
			       ibv_wc_status_str(k), s->wc[k]);
			sep = ", ";
		}
}

/* The table; the number of operations run and of those skipped. */
static unsigned long print_table(struct fuzz *f, unsigned long *skipped)
{
	struct op_stats *sum = calloc(f->nr_ops, sizeof(*sum));
	unsigned long total = 0;
	unsigned int i;

	*skipped = 0;
	if (!sum)
		return 0;
	sum_stats(f, sum);
	printf("%-16s %8s %8s %8s  %s\n", "operation", "runs", "ok", "skipped",
	       "errnos, completions");
	for (i = 0; i < f->nr_ops; i++) {
		printf("%-16s %8lu %8lu %8lu  ", f->ops[i]->name, sum[i].runs, sum[i].ok,
		       sum[i].skipped);
		print_outcomes(&sum[i]);
		printf("\n");
		total += sum[i].runs;
		*skipped += sum[i].skipped;
	}
	free(sum);
	return total;
}

static void print_replay(const struct fuzz *f)
{
	printf("p2pmr-fuzz: seed 0x%" PRIx64 " (replay: p2pmr-fuzz --device %s --bar %u --ib-dev %s --gid-index %d%s%s%s%s --seed 0x%" PRIx64 " --threads %u --seconds %u%s)\n",
	       f->seed, f->addr, f->bar, f->rdma.ib_dev, f->rdma.gid_index,
	       f->file ? " --file " : "", f->file ? f->file : "",
	       f->importer ? " --importer " : "", f->importer ? f->importer : "", f->seed,
	       f->threads, f->seconds, f->heavy ? " --heavy" : "");
	fflush(stdout);
}

/* What a stuck thread is doing, in userspace and in the kernel. */
static void print_thread(const struct fuzz *f, const struct fuzz_thread *t, long long now)
{
	int op = __atomic_load_n(&t->op, __ATOMIC_ACQUIRE);
	char path[64], line[256];
	FILE *s;

	fprintf(stderr, "  %s %u (tid %d): %s for %lld s: %s\n",
		t == &main_state ? "main" : "thread", t->id, t->tid,
		op < 0 ? "between operations" : op == OP_MAIN ? "main" : f->ops[op]->name,
		op < 0 ? 0 : (now - t->op_start_ms) / 1000, t->where);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", t->tid);
	s = fopen(path, "re");
	while (s && fgets(line, sizeof(line), s))
		fprintf(stderr, "    %s", line);
	if (s)
		fclose(s);
}

static void __attribute__((noreturn)) hang(struct fuzz *f, const struct fuzz_thread *stuck)
{
	long long now = fz_now_ms();
	char where[sizeof(stuck->where)];
	unsigned long skipped;
	unsigned int i;
	int fd;

	/* The others go on meanwhile; so may this one, now. */
	memcpy(where, stuck->where, sizeof(where));
	where[sizeof(where) - 1] = '\0';
	fprintf(stderr, "p2pmr-fuzz: hang: %s %u has been in one step for more than %u s (%s); where each thread is:\n",
		stuck == &main_state ? "main" : "thread", stuck->id, f->watchdog, where);
	for (i = 0; i < f->threads; i++)
		print_thread(f, &f->t[i], now);
	print_thread(f, &main_state, now);
	/* Blocked tasks' kernel stacks on the console. */
	fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && write(fd, "w", 1) < 0)
		perror("sysrq");
	kmsg("hang, seed 0x%" PRIx64 ": %s\n", f->seed, where);
	print_table(f, &skipped);
	print_replay(f);
	fflush(NULL);
	_exit(2);
}

static bool watchdog_stop;	/* __atomic */

/* Is @t in a step that began more than @limit ms before @now? */
static bool stuck(const struct fuzz_thread *t, long long now, long long limit)
{
	return __atomic_load_n(&t->op, __ATOMIC_ACQUIRE) >= 0 &&
	       now - __atomic_load_n(&t->op_start_ms, __ATOMIC_RELAXED) > limit;
}

static void *watchdog_main(void *arg)
{
	struct fuzz *f = arg;
	long long limit = f->watchdog * 1000LL, now;
	unsigned int i;

	while (!__atomic_load_n(&watchdog_stop, __ATOMIC_RELAXED)) {
		sleep(1);
		now = fz_now_ms();
		for (i = 0; i < f->threads; i++)
			if (stuck(&f->t[i], now, limit))
				hang(f, &f->t[i]);
		if (stuck(&main_state, now, limit))
			hang(f, &main_state);
	}
	return NULL;
}

static uint64_t random_seed(void)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	uint64_t seed = 0;

	if (fd < 0 || read(fd, &seed, sizeof(seed)) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (fd >= 0)
		close(fd);
	return seed;
}

static void usage(void)
{
	fprintf(stderr, "usage: p2pmr-fuzz --device BDF [--bar N] [--ib-dev NAME] [--gid-index N] [--file F] [--seed N] [--threads N] [--seconds S] [--watchdog S] [--importer BDF] [--heavy] [--verbose]\n");
}

static int parse_options(struct fuzz *f, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'D' },
		{ "bar", required_argument, NULL, 'b' },
		RDMA_OPT_IB_DEV,
		RDMA_OPT_GID_INDEX,
		{ "file", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "watchdog", required_argument, NULL, 'w' },
		{ "importer", required_argument, NULL, 'I' },
		{ "heavy", no_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	bool seeded = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (rdma_opt(&f->rdma, opt, optarg, "p2pmr-fuzz")) {
		case 0: continue;
		case EINVAL: return -EINVAL;
		}
		switch (opt) {
		case 'D': f->addr = optarg; break;
		case 'b': f->bar = atoi(optarg); break;
		case 'f': f->file = optarg; break;
		case 's': f->seed = strtoull(optarg, NULL, 0); seeded = true; break;
		case 't': f->threads = atoi(optarg); break;
		case 'S': f->seconds = atoi(optarg); break;
		case 'w': f->watchdog = atoi(optarg); break;
		case 'I': f->importer = optarg; break;
		case 'H': f->heavy = true; break;
		case 'v': f->verbose = true; break;
		default: return -EINVAL;
		}
	}
	if (!f->addr || optind != argc || !f->threads || f->threads > FUZZ_MAX_THREADS ||
	    !f->seconds || !f->watchdog || f->bar >= P2PMR_MAX_BARS)
		return -EINVAL;
	if (!seeded)
		f->seed = random_seed();
	return 0;
}

/* The device, its BAR, and which part of it random operations may use. */
static int setup_device(struct fuzz *f)
{
	struct p2pmr_bar_info *bar = &f->bars[f->bar];
	uint64_t probe;

	if (p2pmr_device_open(f->addr, P2PMR_VFIO_API_AUTO, &f->dev) ||
	    p2pmr_device_bar_info(f->dev, f->bar, bar))
		return fail("%s", p2pmr_last_error());
	if (!bar->is_memory || bar->size < f->page)
		return fail("BAR %u of %s is not a memory BAR of a page or more", f->bar, f->addr);
	f->addr = strdup(p2pmr_device_pci_addr(f->dev));
	f->bar_size = bar->size;
	f->fuzz_size = bar->size;
	if (f->file && bar->size >= (uint64_t)CHECK_LEN * f->threads * 4) {
		if (host_file_read(f->file, 0, &probe, sizeof(probe)))
			return fail("cannot read %s, the file behind the BAR", f->file);
		f->check_len = CHECK_LEN;
		f->fuzz_size -= CHECK_LEN * f->threads;
	}
	return 0;
}

static int setup_verbs(struct fuzz *f)
{
	unsigned int i;

	f->ctx = verbs_open(f->rdma.ib_dev);
	if (!f->ctx)
		return 1;
	for (i = 0; i < PD_COUNT; i++) {
		f->pd[i] = ibv_alloc_pd(f->ctx);
		if (!f->pd[i])
			return fail("ibv_alloc_pd: %s", strerror(errno));
	}
	return 0;
}

static int setup_thread(struct fuzz *f, struct fuzz_thread *t, unsigned int id)
{
	uint8_t *p;
	int ret;

	t->f = f;
	t->id = id;
	t->op = -1;
	t->rng.s = pattern_word(f->seed, 0x1000 + id);
	t->stats = calloc(f->nr_ops, sizeof(*t->stats));
	t->scratch_len = SCRATCH_PAGES * f->page;
	p = mmap(NULL, t->scratch_len + f->page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!t->stats || p == MAP_FAILED || mprotect(p + t->scratch_len, f->page, PROT_NONE))
		return fail("thread %u: out of memory", id);
	t->scratch = p;
	ret = fz_thread_verbs_open(t);
	return ret ? fail("thread %u: verbs set-up: %s", id, strerror(-ret)) : 0;
}

static int setup(struct fuzz *f)
{
	pthread_rwlockattr_t attr;
	unsigned int i;

	pthread_rwlockattr_init(&attr);
	/* A reopen must not wait behind an endless stream of readers. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&f->dev_lock, &attr);
	pthread_rwlock_init(&f->lib_lock, &attr);
	f->page = sysconf(_SC_PAGESIZE);
	pool_init(&f->bufs);
	pool_init(&f->sessions);
	mrs_init(f);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, f->sock))
		return fail("socketpair: %s", strerror(errno));
	if (ops_init(f) || setup_device(f) || setup_verbs(f))
		return 1;
	f->t = calloc(f->threads, sizeof(*f->t));
	if (!f->t)
		return fail("out of memory");
	for (i = 0; i < f->threads; i++)
		if (setup_thread(f, &f->t[i], i))
			return 1;
	return 0;
}

/* Memory decode on, D0, no low power: as the next user expects it. */
static void restore_device(struct fuzz *f)
{
	struct vfio_device_feature exit_lp = {
		.argsz = sizeof(exit_lp),
		.flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_LOW_POWER_EXIT,
	};
	int ret;

	if (!f->dev)
		return;
	ioctl(p2pmr_device_fd(f->dev), VFIO_DEVICE_FEATURE, &exit_lp);
	ret = vfio_set_power_state(f->dev, PM_STATE_D0);
	if (ret && ret != -ENOTSUP)
		fz_finding(NULL, "setting %s to D0 at the end: %s", f->addr, strerror(-ret));
	ret = vfio_set_memory_decode(f->dev, true);
	if (ret)
		fz_finding(NULL, "turning memory decode of %s on at the end: %s", f->addr,
			   strerror(-ret));
}

/* Close everything the run made, in dependency order. */
static void teardown(struct fuzz *f)
{
	unsigned int i;

	main_step("closing dma-bufs, MRs and importer sessions");
	pool_close_all(&f->sessions);
	mrs_dereg_all(f);
	pool_close_all(&f->bufs);
	close(f->sock[0]);
	close(f->sock[1]);
	main_step("closing the verbs objects");
	for (i = 0; i < f->threads; i++)
		fz_thread_verbs_close(&f->t[i]);
	for (i = 0; i < PD_COUNT; i++)
		if (f->pd[i] && ibv_dealloc_pd(f->pd[i]))
			fz_finding(NULL, "ibv_dealloc_pd at the end: %s", strerror(errno));
	ibv_close_device(f->ctx);
	main_step("restoring and closing the VFIO device");
	restore_device(f);
	if (f->dev)
		p2pmr_device_close(f->dev);
	f->dev = NULL;
}

struct counts {
	int dmabufs, mrs, fds;
};

static void take_counts(struct fuzz *f, struct counts *c)
{
	c->dmabufs = count_dmabufs();
	if (c->dmabufs < 0)
		c->dmabufs = count_dmabuf_fds();
	c->mrs = count_mrs(f->rdma.ib_dev);
	c->fds = count_fds();
}

/*
 * The counts before the run, once they hold still: releases are partly
 * deferred (fput, rxe's pool cleanup), and what an earlier program closed
 * just before must not count as closed by the fuzzer at the end.
 */
static void take_settled_counts(struct fuzz *f, struct counts *c)
{
	struct counts again;
	int i;

	take_counts(f, c);
	for (i = 0; i < SETTLE_SECONDS * 2; i++) {
		usleep(500 * 1000);
		take_counts(f, &again);
		if (!memcmp(&again, c, sizeof(again)))
			return;
		*c = again;
	}
}

/* Releases are partly deferred (fput, rxe's pool cleanup): wait a while. */
static void check_counts(struct fuzz *f, const struct counts *before)
{
	struct counts now;
	int i;

	main_step("waiting for dma-bufs and MRs to go");
	for (i = 0; i < SETTLE_SECONDS * 10; i++) {
		take_counts(f, &now);
		if (!memcmp(&now, before, sizeof(now)))
			break;
		usleep(100 * 1000);
	}
	printf("p2pmr-fuzz: at the end %d dma-bufs, %d MRs, %d fds (at the start %d, %d, %d)\n",
	       now.dmabufs, now.mrs, now.fds, before->dmabufs, before->mrs, before->fds);
	if (now.dmabufs != before->dmabufs)
		fz_finding(NULL, "%d dma-bufs after everything was closed, %d before",
			   now.dmabufs, before->dmabufs);
	if (now.mrs != before->mrs)
		fz_finding(NULL, "%d MRs on %s after everything was closed, %d before", now.mrs,
			   f->rdma.ib_dev, before->mrs);
	if (now.fds != before->fds)
		fz_finding(NULL, "the fuzzer has %d fds open at the end, %d at the start", now.fds,
			   before->fds);
}

/* Run the threads for --seconds, saying how far they got every 10 s. */
static void run(struct fuzz *f)
{
	long long start = fz_now_ms(), end = start + f->seconds * 1000LL, next = start + 10000;
	unsigned long done;
	unsigned int i;

	for (i = 0; i < f->threads; i++) {
		if (pthread_create(&f->t[i].thread, NULL, thread_main, &f->t[i])) {
			fz_finding(NULL, "cannot start thread %u", i);
			f->threads = i;
			end = start;
		}
	}
	while (fz_now_ms() < end) {
		usleep(100 * 1000);
		if (fz_now_ms() < next)
			continue;
		next += 10000;
		for (done = 0, i = 0; i < f->threads; i++)
			done += __atomic_load_n(&f->t[i].done, __ATOMIC_RELAXED);
		printf("p2pmr-fuzz: %lld s: %lu operations, %lu findings\n",
		       (fz_now_ms() - start) / 1000, done,
		       __atomic_load_n(&f->findings, __ATOMIC_RELAXED));
		fflush(stdout);
	}
	__atomic_store_n(&f->stop, true, __ATOMIC_RELAXED);
	main_step("joining the threads");
	for (i = 0; i < f->threads; i++)
		pthread_join(f->t[i].thread, NULL);
}

int main(int argc, char **argv)
{
	struct fuzz f = { .bar = 2, .threads = 4, .seconds = 60, .watchdog = 60 };
	pthread_t watchdog;
	struct counts before;
	unsigned long ops, skipped;

	fuzz_global = &f;
	main_state.f = &f;
	main_state.op = -1;
	main_state.tid = getpid();
	rdma_opts_init(&f.rdma, "rxe0");
	if (parse_options(&f, argc, argv)) {
		usage();
		return 3;
	}
	signal(SIGPIPE, SIG_IGN);
	print_replay(&f);
	take_settled_counts(&f, &before);
	if (setup(&f))
		return 3;
	kmsg("start, seed 0x%" PRIx64 ", %u threads, %u s, %s BAR %u, %s\n", f.seed, f.threads,
	     f.seconds, f.addr, f.bar, f.rdma.ib_dev);
	pthread_create(&watchdog, NULL, watchdog_main, &f);
	run(&f);
	teardown(&f);
	check_counts(&f, &before);
	step_end(&main_state);
	__atomic_store_n(&watchdog_stop, true, __ATOMIC_RELAXED);
	pthread_join(watchdog, NULL);

	ops = print_table(&f, &skipped);
	printf("p2pmr-fuzz: %lu operations (%lu skipped: nothing to work on) in %u s, %lu findings\n",
	       ops, skipped, f.seconds, f.findings);
	print_replay(&f);
	kmsg("end, seed 0x%" PRIx64 ": %lu operations, %lu findings\n", f.seed, ops, f.findings);
	return f.findings ? 1 : 0;
}
