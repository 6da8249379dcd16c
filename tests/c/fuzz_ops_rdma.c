// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: RDMA WRITE, READ, SEND and atomics between each thread's two
 * connected RC QPs, into and out of the pool's MRs (local SGEs in BAR MRs
 * too, ranges across an MR's end, now and then a random key); processes
 * forked with a live MR, killed or exiting while their traffic runs; and a
 * checked WRITE and READ into each thread's own part of the BAR.
 *
 * Work requests end with whatever status the revocations make (counted);
 * one without a completion after 10 s is a finding. The checked WRITE must
 * put its bytes in the host's file behind the BAR when it completes
 * successfully, and the READ after it must bring them back.
 */
#define _GNU_SOURCE	/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "pattern.h"
#include "vfio_ctl.h"

struct xfer {
	uint64_t laddr, raddr;
	uint32_t lkey, rkey, len;
};

static uint32_t pick_len(struct rng *r)
{
	switch (rng_below(r, 4)) {
	case 0:
		return 1 + rng_below(r, 64);
	case 1:
		return 1 + rng_below(r, 4096);
	case 2:
		return 4096 * (1 + rng_below(r, 16));
	default:
		return 1 + rng_below(r, FUZZ_HOST_LEN);
	}
}

/* An offset for @len bytes in @length: inside mostly, else across the end. */
static uint64_t pick_off(struct rng *r, uint64_t length, uint32_t len)
{
	if (rng_one_in(r, 16))
		return length - len / 2;
	return length > len ? rng_below(r, length - len + 1) : 0;
}

/* The remote side: a live MR of the pool, now and then a random key. */
static bool pick_remote(struct fuzz_thread *t, struct xfer *x)
{
	struct mr_keys k;

	if (!mr_keys(t->f, &t->rng, &k))
		return false;
	x->raddr = k.iova + pick_off(&t->rng, k.length, x->len);
	x->rkey = rng_one_in(&t->rng, 64) ? (uint32_t)rng_next(&t->rng) : k.rkey;
	return true;
}

/* The local SGE: the thread's host buffer, or one time in four a BAR MR. */
static void pick_local(struct fuzz_thread *t, struct xfer *x)
{
	struct mr_keys k;

	if (rng_one_in(&t->rng, 4) && mr_keys(t->f, &t->rng, &k)) {
		x->laddr = k.iova + pick_off(&t->rng, k.length, x->len);
		x->lkey = k.lkey;
		return;
	}
	x->laddr = (uintptr_t)t->host + rng_below(&t->rng, FUZZ_HOST_LEN - x->len + 1);
	x->lkey = t->host_mr->lkey;
}

/* The QPs, connected again after an error left them in the error state. */
static bool loop_ready(struct fuzz_thread *t)
{
	if (!t->loop_ok) {
		fz_note(t, "recreating the QPs");
		t->loop_ok = !loop_connect(&t->loop);
	}
	return t->loop_ok;
}

/* Wait for a completion of the thread's QPs and count it; 0 or -errno. */
static int xfer_wait(struct fuzz_thread *t, const char *what, struct ibv_wc *wc)
{
	int ret = loop_wait(&t->loop, wc);

	if (ret == -ETIMEDOUT) {
		fz_wc(t, FUZZ_WC_TIMEOUT);
		fz_finding(t, "%s: no completion in 10 s", what);
	}
	if (ret || wc->status != IBV_WC_SUCCESS)
		t->loop_ok = false;
	if (!ret)
		fz_wc(t, wc->status);
	return ret == -ETIMEDOUT ? 0 : ret;
}

static int xfer_run(struct fuzz_thread *t, enum ibv_wr_opcode op, const struct xfer *x,
		    uint64_t compare_add, uint64_t swap, const char *what)
{
	struct ibv_wc wc;
	int ret;

	fz_note(t, "%s: %u bytes 0x%llx (lkey 0x%x) <-> 0x%llx (rkey 0x%x)", what, x->len,
		(unsigned long long)x->laddr, x->lkey, (unsigned long long)x->raddr, x->rkey);
	ret = loop_post(&t->loop, op, x->laddr, x->len, x->lkey, x->raddr, x->rkey, compare_add,
			swap);
	if (ret) {
		t->loop_ok = false;
		return ret;
	}
	return xfer_wait(t, what, &wc);
}

static int rdma_rw(struct fuzz_thread *t, enum ibv_wr_opcode op, const char *what)
{
	struct xfer x = { .len = pick_len(&t->rng) };

	if (!loop_ready(t) || !pick_remote(t, &x))
		return FUZZ_SKIP;
	pick_local(t, &x);
	return xfer_run(t, op, &x, 0, 0, what);
}

static int op_write(struct fuzz_thread *t)
{
	return rdma_rw(t, IBV_WR_RDMA_WRITE, "RDMA WRITE");
}

static int op_read(struct fuzz_thread *t)
{
	return rdma_rw(t, IBV_WR_RDMA_READ, "RDMA READ");
}

static int op_atomic(struct fuzz_thread *t)
{
	bool cas = rng_one_in(&t->rng, 2);
	struct xfer x = { .len = 8 };

	if (!loop_ready(t) || !pick_remote(t, &x))
		return FUZZ_SKIP;
	if (!rng_one_in(&t->rng, 16))
		x.raddr &= ~7ULL;
	else if (x.raddr & 7)
		t->allow = EINVAL;	/* the provider refuses to post it */
	x.laddr = (uintptr_t)t->host + 8 * rng_below(&t->rng, FUZZ_HOST_LEN / 8);
	x.lkey = t->host_mr->lkey;
	return xfer_run(t, cas ? IBV_WR_ATOMIC_CMP_AND_SWP : IBV_WR_ATOMIC_FETCH_AND_ADD, &x,
			rng_next(&t->rng), rng_next(&t->rng), cas ? "compare-and-swap" :
			"fetch-and-add");
}

/*
 * A SEND received into a BAR MR (or the host buffer, gathered from a BAR
 * MR): both completions, unless one fails (then the QPs are recreated).
 */
static int op_send(struct fuzz_thread *t)
{
	struct xfer src = { .len = pick_len(&t->rng) }, dst = { .len = src.len };
	struct mr_keys k;
	struct ibv_wc wc;
	int ret, i;

	if (!loop_ready(t))
		return FUZZ_SKIP;
	pick_local(t, &src);
	if (rng_one_in(&t->rng, 4) || !mr_keys(t->f, &t->rng, &k)) {
		dst.laddr = (uintptr_t)t->host;
		dst.lkey = t->host_mr->lkey;
	} else {
		dst.laddr = k.iova + pick_off(&t->rng, k.length, dst.len);
		dst.lkey = k.lkey;
	}
	if (rng_one_in(&t->rng, 8))
		dst.len = rng_below(&t->rng, src.len);
	fz_note(t, "SEND: %u bytes 0x%llx (lkey 0x%x) -> %u bytes 0x%llx (lkey 0x%x)", src.len,
		(unsigned long long)src.laddr, src.lkey, dst.len, (unsigned long long)dst.laddr,
		dst.lkey);
	ret = loop_post_recv(&t->loop, dst.laddr, dst.len, dst.lkey);
	if (!ret)
		ret = loop_post(&t->loop, IBV_WR_SEND, src.laddr, src.len, src.lkey, 0, 0, 0, 0);
	if (ret) {
		t->loop_ok = false;
		return ret;
	}
	for (i = 0; i < 2 && t->loop_ok; i++) {
		ret = xfer_wait(t, "SEND", &wc);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * In the child: close every fd but stdio and @keep (sorted), so that it
 * holds neither the VFIO device (which could then not be opened again
 * meanwhile) nor the parent's dma-bufs and verbs context.
 */
static void close_others(const int *keep, unsigned int n)
{
	unsigned int from = 3, i;

	for (i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > from)
			close_range(from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

static void sort3(int *v)
{
	int i, j, x;

	for (i = 1; i < 3; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			x = v[j];
			v[j] = v[j - 1];
			v[j - 1] = x;
		}
}

/* The child's RDMA into its MR until told to stop or killed. */
static void __attribute__((noreturn)) child_traffic(struct verbs_loop *l, struct rng *r,
						    uint64_t size, void *buf, uint32_t lkey,
						    uint32_t rkey, int stop)
{
	struct pollfd p = { .fd = stop, .events = POLLIN };
	uint64_t off;
	uint32_t len;

	for (;;) {
		len = 1 + rng_below(r, size < FUZZ_HOST_LEN ? size : FUZZ_HOST_LEN);
		off = rng_below(r, size - len + 1);
		if (poll(&p, 1, 0) > 0) {
			/* Exit with a work request in flight. */
			loop_post(l, IBV_WR_RDMA_WRITE, (uintptr_t)buf, len, lkey,
				  FUZZ_IOVA_BASE + off, rkey, 0, 0);
			_exit(0);
		}
		if (loop_run(l, rng_one_in(r, 2) ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
			     (uintptr_t)buf, len, lkey, FUZZ_IOVA_BASE + off, rkey) !=
		    IBV_WC_SUCCESS && loop_connect(l))
			_exit(EIO);
	}
}

/*
 * The child of op_fork(): only the dma-buf @fd and its pipes kept, its own
 * verbs context, an MR of the dma-buf through the kernel method, RDMA into
 * it until told to stop (it exits with a work request in flight) or
 * killed. Exits with the errno of a step that failed. Says 'c' on @ready
 * when it has closed the rest, 'r' when its MR is registered.
 */
static void __attribute__((noreturn)) fork_child(struct fuzz *f, int fd, const struct buf_meta *m,
						 int ready, int stop, uint64_t seed)
{
	int keep[3] = { fd, ready, stop }, ret;
	struct rng r = { seed };
	struct p2pmr_mr_keys keys;
	struct verbs_loop l;
	struct ibv_mr *host;
	void *buf;

	sort3(keep);
	close_others(keep, 3);
	if (write(ready, "c", 1) != 1)
		_exit(EPIPE);
	ret = loop_open(&l, f->rdma.ib_dev, f->rdma.gid_index);
	if (ret)
		_exit(-ret);
	buf = aligned_alloc(f->page, FUZZ_HOST_LEN);
	host = buf ? ibv_reg_mr(l.pd, buf, FUZZ_HOST_LEN, FUZZ_ACCESS_ALL) : NULL;
	if (!host)
		_exit(ENOMEM);
	ret = p2pmr_uverbs_reg_dmabuf_mr(l.ctx->cmd_fd, l.pd->handle, 0, m->size, FUZZ_IOVA_BASE,
					 fd, FUZZ_ACCESS_ALL, &keys);
	if (ret)
		_exit(ret);
	if (write(ready, "r", 1) != 1)
		_exit(EPIPE);
	child_traffic(&l, &r, m->size, buf, host->lkey, keys.rkey, stop);
}

/* Read one byte @want from @fd within @ms; false on EOF or time-out. */
static bool await(int fd, char want, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1 && c == want;
}

/* Let the child run a while, then kill it or tell it to exit; reap it. */
static int fork_end(struct fuzz_thread *t, pid_t pid, int ready, int stop)
{
	int status;

	fz_note(t, "fork: waiting for child %d to register its MR", pid);
	if (await(ready, 'r', 20000))
		usleep(rng_below(&t->rng, 200 * 1000));
	if (rng_one_in(&t->rng, 2) || write(stop, "s", 1) != 1)
		kill(pid, SIGKILL);
	fz_note(t, "fork: reaping child %d", pid);
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status))
		return -WEXITSTATUS(status);
	return 0;
}

/*
 * The device lock is held until the child has closed its copy of the VFIO
 * device's fds: closing and reopening the device must not meet it.
 */
static int op_fork(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	uint64_t seed = rng_next(&t->rng);
	int ready[2], stop[2], fd, ret;
	struct p2pmr_device *dev;
	struct buf_meta m;
	pid_t pid;

	fd = pool_dup(&f->bufs, &t->rng, &m);
	if (fd < 0)
		return FUZZ_SKIP;
	if (pipe2(ready, O_CLOEXEC) || pipe2(stop, O_CLOEXEC)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	fz_note(t, "fork: a child with an MR of a %llu-byte dma-buf", (unsigned long long)m.size);
	dev = fz_dev_get(f);
	pthread_rwlock_wrlock(&f->lib_lock);
	pid = fork();
	ret = pid < 0 ? -errno : 0;
	if (!pid)
		fork_child(f, fd, &m, ready[1], stop[0], seed);
	pthread_rwlock_unlock(&f->lib_lock);
	close(fd);
	close(ready[1]);
	close(stop[0]);
	if (pid > 0)
		await(ready[0], 'c', 10000);
	if (dev)
		fz_dev_put(f);
	if (pid > 0)
		ret = fork_end(t, pid, ready[0], stop[1]);
	close(ready[0]);
	close(stop[1]);
	return ret;
}

/* The checked transfers of op_bar_check(), on its own MR @mr. */
/*
 * One checked RDMA WRITE or READ between the thread's host buffer and @len
 * bytes at BAR offset @off; false (and the check loop given up) unless it
 * completed successfully.
 */
static bool check_run(struct fuzz_thread *t, enum ibv_wr_opcode op, struct p2pmr_mr *mr,
		      uint64_t off, size_t len)
{
	int s;

	fz_note(t, "checked RDMA %s of %zu bytes at BAR offset 0x%llx",
		op == IBV_WR_RDMA_WRITE ? "WRITE" : "READ", len, (unsigned long long)off);
	s = loop_run(&t->check_loop, op, (uintptr_t)t->check_host, len,
		     t->check_host_mr->lkey, FUZZ_IOVA_BASE + off, mr->rkey);
	if (s >= 0)
		fz_wc(t, s);
	if (s != IBV_WC_SUCCESS) {
		t->check_loop_ok = false;
		return false;
	}
	return true;
}

static void bar_check_rdma(struct fuzz_thread *t, struct p2pmr_mr *mr, uint64_t off,
			   size_t len)
{
	struct fuzz *f = t->f;
	uint64_t seed = rng_next(&t->rng);

	pattern_fill((uint64_t *)t->check_host, len, seed);
	if (!check_run(t, IBV_WR_RDMA_WRITE, mr, off, len))
		return;
	if (host_file_read(f->file, off, t->scratch, len) ||
	    memcmp(t->scratch, t->check_host, len)) {
		fz_finding(t, "a successful RDMA WRITE of %zu bytes to BAR offset 0x%llx is not in %s",
			   len, (unsigned long long)off, f->file);
		return;
	}
	memset(t->check_host, 0, len);
	if (!check_run(t, IBV_WR_RDMA_READ, mr, off, len))
		return;
	if (memcmp(t->scratch, t->check_host, len))
		fz_finding(t, "a successful RDMA READ of %zu bytes from BAR offset 0x%llx returned other bytes than the BAR holds",
			   len, (unsigned long long)off);
}

/*
 * The thread's own part of the BAR (after the fuzz area; no other
 * operation reaches it), a dma-buf and MR of it on their own PD: what a
 * successful WRITE wrote must be in the host's file, and READ it back.
 */
static int op_bar_check(struct fuzz_thread *t)
{
	struct fuzz *f = t->f;
	uint64_t off = f->fuzz_size + t->id * f->check_len;
	struct p2pmr_range r = { off, f->check_len };
	struct p2pmr_device *dev;
	struct p2pmr_mr *mr;
	int fd, ret;

	if (!f->check_len)
		return FUZZ_SKIP;
	if (!t->check_loop_ok)
		t->check_loop_ok = !loop_connect(&t->check_loop);
	if (!t->check_loop_ok)
		return FUZZ_SKIP;
	dev = fz_dev_get(f);
	if (!dev)
		return FUZZ_SKIP;
	ret = p2pmr_dmabuf_export(dev, f->bar, &r, 1, &fd);
	fz_dev_put(f);
	if (ret)
		return -ret;
	lib_enter(f);
	mr = p2pmr_reg_dmabuf_mr(f->pd[PD_CHECK], 0, r.length, FUZZ_IOVA_BASE + off, fd,
				 FUZZ_ACCESS_ALL);
	ret = mr ? 0 : -errno;
	lib_exit(f);
	if (mr) {
		bar_check_rdma(t, mr, off, r.length);
		lib_enter(f);
		if (p2pmr_dereg_mr(mr))
			fz_finding(t, "deregistering the checked MR failed: %s", p2pmr_last_error());
		lib_exit(f);
	}
	close(fd);
	return ret;
}

const struct fuzz_op fuzz_rdma_ops[] = {
	FUZZ_OP("rdma-write", op_write, 100, ERRNOS(ENOMEM)),
	FUZZ_OP("rdma-read", op_read, 60, ERRNOS(ENOMEM)),
	FUZZ_OP("send", op_send, 40, ERRNOS(ENOMEM)),
	FUZZ_OP("atomic", op_atomic, 32, ERRNOS(ENOMEM)),
	FUZZ_OP("fork", op_fork, 8, ERRNOS(ENODEV, EACCES, EOPNOTSUPP, ENOMEM, EIO)),
	FUZZ_OP("bar-check", op_bar_check, 24, ERRNOS(ENODEV, ENOMEM)),
	FUZZ_OP_END,
};
