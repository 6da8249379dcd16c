/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * p2pmr-fuzz, the pieces its files share; fuzz.c has the overview.
 *
 * Each operation is a function of one thread that picks its arguments with
 * the thread's PRNG, makes its calls and returns 0, -errno (the errno of
 * its main call) or FUZZ_SKIP (nothing to work on yet). The runner counts
 * the outcome and calls it a finding when the errno is not on the
 * operation's list; an operation reports what it proves wrong by itself
 * (success where failure is certain, a wrong size) with fz_finding().
 */
#ifndef P2PMR_TEST_FUZZ_H
#define P2PMR_TEST_FUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <infiniband/verbs.h>

#include "p2pmr.h"
#include "rdma_opts.h"
#include "verbs_loop.h"

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define FUZZ_MAX_THREADS	16
#define FUZZ_ERRNO_MAX		134	/* errno buckets 1..133 */
#define FUZZ_WC_TIMEOUT		31	/* wc bucket: no completion in time */
#define FUZZ_WC_MAX		32
#define FUZZ_SKIP		1	/* return value: nothing to do */
#define FUZZ_HOST_LEN		(64 * 1024)	/* per-thread host buffer */
#define FUZZ_IOVA_BASE		0x7f0000000000ULL
#define FUZZ_ACCESS_ALL		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
				 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

/* 0-terminated list of the errnos an operation may fail with. */
#define ERRNOS(...)		((const int[]){ __VA_ARGS__, 0 })

/* splitmix64: one state per thread, derived from the seed. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, @n); 0 when @n is 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* True one time in @n. */
static inline bool rng_one_in(struct rng *r, unsigned int n)
{
	return !rng_below(r, n);
}

/* What the fuzzer knows about a dma-buf it holds. */
struct buf_meta {
	uint64_t size;		/* what SEEK_END must say */
	uint64_t bar_offset;	/* of the first range */
	int accmode;		/* O_RDONLY, O_WRONLY or O_RDWR */
};

/*
 * fds the threads share: dma-bufs, test importer sessions. A thread works
 * on a dup() of a slot's fd, so that another closing the slot meanwhile
 * cannot make it use a recycled fd number, and the last reference to a
 * file goes away in any thread.
 */
#define FD_POOL_SLOTS 32
struct fd_slot {
	pthread_mutex_t lock;
	int fd;			/* -1: empty */
	struct buf_meta meta;
};

struct fd_pool {
	struct fd_slot slot[FD_POOL_SLOTS];
	unsigned int nr;	/* slots in use, at most FD_POOL_SLOTS */
};

/* A memory region, registered by one of two paths. */
enum mr_kind { MR_NONE, MR_LIB, MR_RAW };

struct mr_ref {
	enum mr_kind kind;
	struct p2pmr_mr *mr;	/* MR_LIB: p2pmr_reg_dmabuf_mr()'s */
	uint32_t handle;
	uint32_t lkey;
	uint32_t rkey;
	uint64_t iova;
	uint64_t length;
	unsigned int pd;	/* index in fuzz.pd[] */
};

/* The MRs the threads share. */
#define MR_POOL_SLOTS 32
struct mr_slot {
	pthread_mutex_t lock;
	struct mr_ref ref;
};

/* A snapshot of an MR's keys, for traffic (the MR may go meanwhile). */
struct mr_keys {
	uint32_t lkey, rkey;
	uint64_t iova, length;
};

enum fuzz_pd { PD_MAIN, PD_OTHER, PD_CHECK, PD_COUNT };

struct fuzz_thread;

struct fuzz_op {
	const char *name;
	int (*fn)(struct fuzz_thread *t);
	unsigned int weight;
	const int *errnos;	/* ERRNOS(...) it may fail with, or NULL: none */
	bool heavy;		/* only with --heavy */
};

/*
 * Table rows: name, function, weight (the chance of the operation at each
 * draw is its weight over the sum, about 1350), the errnos it may fail with.
 */
#define FUZZ_OP(n, f, w, e)	{ .name = (n), .fn = (f), .weight = (w), .errnos = (e) }
#define FUZZ_OP_HEAVY(n, f, w, e) \
	{ .name = (n), .fn = (f), .weight = (w), .errnos = (e), .heavy = true }
#define FUZZ_OP_END		{ .name = NULL }

struct op_stats {
	unsigned long runs, ok, skipped;
	unsigned long err[FUZZ_ERRNO_MAX];	/* [0]: beyond the table */
	unsigned long wc[FUZZ_WC_MAX];
};

struct fuzz {
	/* options */
	const char *addr;
	const char *file;
	struct rdma_opts rdma;	/* --ib-dev, --gid-index */
	const char *importer;	/* another PCI device for the test importer */
	unsigned int bar;
	unsigned int threads;
	unsigned int seconds;
	unsigned int watchdog;
	uint64_t seed;
	bool heavy;
	bool verbose;

	/* the VFIO device, closed and reopened by some operations */
	pthread_rwlock_t dev_lock;
	struct p2pmr_device *dev;	/* NULL while it is away */
	uint64_t page;
	uint64_t bar_size;
	uint64_t fuzz_size;	/* [0, fuzz_size) of the BAR is for random use */
	uint64_t check_len;	/* per thread, after fuzz_size (0: no checks) */
	struct p2pmr_bar_info bars[P2PMR_MAX_BARS];

	/* verbs: one context, its PDs shared by every thread */
	struct ibv_context *ctx;
	struct ibv_pd *pd[PD_COUNT];
	/*
	 * Held for reading around libp2pmr's MR calls, for writing around
	 * fork(): the child calls the library, whose mutexes must not be held
	 * by a thread that does not exist in the child.
	 */
	pthread_rwlock_t lib_lock;

	struct fd_pool bufs;
	struct fd_pool sessions;
	struct mr_slot mrs[MR_POOL_SLOTS];
	int sock[2];		/* dma-bufs passed with SCM_RIGHTS */
	bool no_importer;	/* no dma_buf_test_importer in debugfs */

	const struct fuzz_op **ops;
	unsigned int nr_ops;
	unsigned int total_weight;
	struct fuzz_thread *t;
	bool stop;		/* __atomic */
	unsigned long findings;	/* atomic */
};

struct fuzz_thread {
	struct fuzz *f;
	unsigned int id;
	pthread_t thread;
	pid_t tid;
	struct rng rng;
	struct verbs_loop loop;		/* QPs on PD_MAIN */
	struct verbs_loop check_loop;	/* QPs on PD_CHECK */
	bool loop_ok, check_loop_ok;
	uint8_t *host;			/* FUZZ_HOST_LEN, on PD_MAIN */
	struct ibv_mr *host_mr;
	uint8_t *check_host;		/* FUZZ_HOST_LEN, on PD_CHECK */
	struct ibv_mr *check_host_mr;
	uint8_t *scratch;		/* pages, the last one PROT_NONE */
	size_t scratch_len;		/* the accessible part */
	int allow;		/* an errno the running operation made possible */

	/* for the watchdog, read and written with __atomic builtins */
	int op;				/* index in f->ops, -1 between ops */
	long long op_start_ms;
	unsigned long done;
	char where[192];		/* racy, for messages only */

	struct op_stats *stats;		/* one per f->ops entry */
};

static inline void lib_enter(struct fuzz *f)
{
	pthread_rwlock_rdlock(&f->lib_lock);
}

static inline void lib_exit(struct fuzz *f)
{
	pthread_rwlock_unlock(&f->lib_lock);
}

extern const struct fuzz_op fuzz_export_ops[];
extern const struct fuzz_op fuzz_fd_ops[];
extern const struct fuzz_op fuzz_mr_ops[];
extern const struct fuzz_op fuzz_rdma_ops[];
extern const struct fuzz_op fuzz_dev_ops[];
extern const struct fuzz_op fuzz_importer_ops[];

/* fuzz.c */
long long fz_now_ms(void);
/*
 * A step made of many slow calls (a storm of revocations, each of which
 * may wait up to 1 s for a slow importer) says it is still moving, so that
 * the watchdog times each call and not the whole step.
 */
void fz_progress(struct fuzz_thread *t);
void fz_note(struct fuzz_thread *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fz_finding(struct fuzz_thread *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fz_wc(struct fuzz_thread *t, int status);
/* The device for a call on its fd, held until fz_dev_put(); NULL if away. */
struct p2pmr_device *fz_dev_get(struct fuzz *f);
void fz_dev_put(struct fuzz *f);
const char *fz_errname(int err);

/* fuzz_pool.c */
void pool_init(struct fd_pool *p);
/* Add @fd (ours from now on); a full pool closes a random slot's fd first. */
void pool_put(struct fd_pool *p, struct rng *r, int fd, const struct buf_meta *m);
/* A dup() of a random slot's fd (the caller closes it), or -1 if empty. */
int pool_dup(struct fd_pool *p, struct rng *r, struct buf_meta *m);
/* Take a random slot's fd out of the pool, or -1 if empty. */
int pool_take(struct fd_pool *p, struct rng *r);
void pool_close_all(struct fd_pool *p);

void mrs_init(struct fuzz *f);
/* Lock a random slot in use (NULL if none); mr_put() unlocks. */
struct mr_slot *mr_get(struct fuzz *f, struct rng *r);
/* Lock a free slot, deregistering a random one when all are in use. */
struct mr_slot *mr_get_free(struct fuzz *f, struct rng *r);
void mr_put(struct mr_slot *s);
/* The keys of a random MR, or false if there is none. */
bool mr_keys(struct fuzz *f, struct rng *r, struct mr_keys *k);
/* Deregister @r (kind MR_NONE after it); 0 or -errno. */
int mr_dereg(struct fuzz *f, struct mr_ref *r);
void mrs_dereg_all(struct fuzz *f);

/* fuzz_ops_export.c: a valid export of the fuzz area; the fd or -errno. */
int fz_export_simple(struct fuzz_thread *t, struct buf_meta *m);

/* fuzz_ops_mr.c: each thread's QPs and host buffers */
int fz_thread_verbs_open(struct fuzz_thread *t);
void fz_thread_verbs_close(struct fuzz_thread *t);

#endif /* P2PMR_TEST_FUZZ_H */
