// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr-fuzz: the fds and MRs its threads share (fuzz.h). A slot's lock is
 * held only to look at or change the slot, and around the deregistration
 * of its MR; never around a call that can block for long.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"

void pool_init(struct fd_pool *p)
{
	unsigned int i;

	for (i = 0; i < FD_POOL_SLOTS; i++) {
		pthread_mutex_init(&p->slot[i].lock, NULL);
		p->slot[i].fd = -1;
	}
	p->nr = 0;
}

/* Lock the first slot from a random start whose fd is (not) -1. */
static struct fd_slot *pool_find(struct fd_pool *p, struct rng *r, bool used)
{
	unsigned int start = rng_below(r, FD_POOL_SLOTS), i;

	for (i = 0; i < FD_POOL_SLOTS; i++) {
		struct fd_slot *s = &p->slot[(start + i) % FD_POOL_SLOTS];

		pthread_mutex_lock(&s->lock);
		if ((s->fd >= 0) == used)
			return s;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

void pool_put(struct fd_pool *p, struct rng *r, int fd, const struct buf_meta *m)
{
	struct fd_slot *s = pool_find(p, r, false);

	if (!s) {
		/* Full: a random slot's fd makes room. */
		s = pool_find(p, r, true);
		if (!s) {
			close(fd);
			return;
		}
		close(s->fd);
		__atomic_sub_fetch(&p->nr, 1, __ATOMIC_RELAXED);
	}
	s->fd = fd;
	if (m)
		s->meta = *m;
	__atomic_add_fetch(&p->nr, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
}

int pool_dup(struct fd_pool *p, struct rng *r, struct buf_meta *m)
{
	struct fd_slot *s = pool_find(p, r, true);
	int fd;

	if (!s)
		return -1;
	fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	if (m)
		*m = s->meta;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

int pool_take(struct fd_pool *p, struct rng *r)
{
	struct fd_slot *s = pool_find(p, r, true);
	int fd;

	if (!s)
		return -1;
	fd = s->fd;
	s->fd = -1;
	__atomic_sub_fetch(&p->nr, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return fd;
}

void pool_close_all(struct fd_pool *p)
{
	struct rng r = { 0 };
	int fd;

	while ((fd = pool_take(p, &r)) >= 0)
		close(fd);
}

void mrs_init(struct fuzz *f)
{
	unsigned int i;

	for (i = 0; i < MR_POOL_SLOTS; i++) {
		pthread_mutex_init(&f->mrs[i].lock, NULL);
		f->mrs[i].ref.kind = MR_NONE;
	}
}

static struct mr_slot *mr_find(struct fuzz *f, struct rng *r, bool used)
{
	unsigned int start = rng_below(r, MR_POOL_SLOTS), i;

	for (i = 0; i < MR_POOL_SLOTS; i++) {
		struct mr_slot *s = &f->mrs[(start + i) % MR_POOL_SLOTS];

		pthread_mutex_lock(&s->lock);
		if ((s->ref.kind != MR_NONE) == used)
			return s;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

struct mr_slot *mr_get(struct fuzz *f, struct rng *r)
{
	return mr_find(f, r, true);
}

struct mr_slot *mr_get_free(struct fuzz *f, struct rng *r)
{
	struct mr_slot *s = mr_find(f, r, false);

	if (s)
		return s;
	s = mr_find(f, r, true);
	if (s && mr_dereg(f, &s->ref)) {
		fz_finding(NULL, "deregistering MR handle %u to make room failed: %s",
			   s->ref.handle, p2pmr_last_error());
		mr_put(s);
		return NULL;
	}
	return s;
}

void mr_put(struct mr_slot *s)
{
	pthread_mutex_unlock(&s->lock);
}

bool mr_keys(struct fuzz *f, struct rng *r, struct mr_keys *k)
{
	struct mr_slot *s = mr_get(f, r);

	if (!s)
		return false;
	k->lkey = s->ref.lkey;
	k->rkey = s->ref.rkey;
	k->iova = s->ref.iova;
	k->length = s->ref.length;
	mr_put(s);
	return true;
}

int mr_dereg(struct fuzz *f, struct mr_ref *r)
{
	int ret;

	lib_enter(f);
	if (r->kind == MR_LIB)
		ret = p2pmr_dereg_mr(r->mr);
	else
		ret = p2pmr_uverbs_dereg_mr(f->ctx->cmd_fd, r->handle);
	lib_exit(f);
	if (!ret)
		r->kind = MR_NONE;
	return -ret;
}

void mrs_dereg_all(struct fuzz *f)
{
	unsigned int i;

	for (i = 0; i < MR_POOL_SLOTS; i++) {
		struct mr_slot *s = &f->mrs[i];

		pthread_mutex_lock(&s->lock);
		if (s->ref.kind != MR_NONE && mr_dereg(f, &s->ref))
			fz_finding(NULL, "deregistering MR handle %u at the end failed: %s",
				   s->ref.handle, p2pmr_last_error());
		mr_put(s);
	}
}
