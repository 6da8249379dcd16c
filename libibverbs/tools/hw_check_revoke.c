// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr hw-check's revocation checks: RDMA WRITEs stamped with their
 * number run into an MR of the BAR while vfio-pci revokes the dma-buf (by
 * memory decode off, or by VFIO_DEVICE_RESET). What the completions must
 * say, whether bytes may land afterwards and whether the same MR works
 * after the restore depends on how the driver imports dma-bufs
 * (docs/rdma-importers.md, enum import_mode).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "hw_check_int.h"

/*
 * RDMA WRITEs of SLOT bytes, one at a time, each stamped with its number
 * (every word of the message), into the MR of a revoke check, until told
 * to stop. A failed one resets the QPs and traffic goes on.
 */
struct traffic {
	struct hwc *h;
	uint32_t rkey;
	uint64_t iova;
	volatile bool stop;
	uint64_t posted;		/* stamp of the last work request posted */
	uint64_t revoked_at;		/* the stamp posted when the revoke returned, or 0 */
	unsigned int ok, errors, after_errors, after_ok;
	int first_error;		/* status of the first failure */
	int first_after;		/* status of the first failure after the revoke */
	int bad;			/* a status the mode does not allow, or 0 */
	uint64_t bad_stamp;
	int err;			/* posting, waiting or reconnecting failed: errno */
	char why[DETAIL];
};

static void *traffic_thread(void *arg)
{
	struct traffic *t = arg;
	struct hwc *h = t->h;
	uint64_t stamp, at;
	size_t i;
	int s;

	while (!t->stop) {
		stamp = __atomic_add_fetch(&t->posted, 1, __ATOMIC_SEQ_CST);
		for (i = 0; i < SLOT / 8; i++)
			h->host[i] = stamp;
		s = run_rdma(h, IBV_WR_RDMA_WRITE, h->host, SLOT, h->host_mr->lkey, t->iova,
			     t->rkey);
		at = __atomic_load_n(&t->revoked_at, __ATOMIC_SEQ_CST);
		if (s < 0) {
			t->err = -s;
			snprintf(t->why, sizeof(t->why), "%s", p2pmr_last_error());
			break;
		}
		if (!s) {
			t->ok++;
			if (at && stamp > at)
				t->after_ok++;
			continue;
		}
		if (!t->errors++)
			t->first_error = s;
		if (at && stamp > at && !t->after_errors++)
			t->first_after = s;
		if (h->mode == IMPORT_CPU && s != IBV_WC_REM_ACCESS_ERR && !t->bad) {
			t->bad = s;
			t->bad_stamp = stamp;
		}
		if (loop_reconnect(&h->loop)) {
			t->err = EIO;
			snprintf(t->why, sizeof(t->why), "%s", p2pmr_last_error());
			break;
		}
	}
	return NULL;
}

/* Wait (at most @ms) until @cond holds for the traffic. */
static bool wait_for(struct traffic *t, bool (*cond)(struct traffic *t), long long ms)
{
	long long end = now_ms() + ms;

	while (!cond(t) && !t->err && now_ms() < end)
		usleep(1000);
	return cond(t);
}

/* Traffic runs: a few WRITEs went through before anything is revoked. */
#define OK_BEFORE	3
#define OK_WAIT_MS	60000

static bool some_ok(struct traffic *t)
{
	return t->ok >= OK_BEFORE;
}

static bool some_after(struct traffic *t)
{
	return t->after_errors + t->after_ok >= 5;
}

/*
 * Zero @slot, register an MR over it and start the traffic into it; return
 * once some WRITEs went through (or the time is up). 0, or -1 after the
 * FAIL verdict of check @name.
 */
static int traffic_start(struct hwc *h, const char *name, unsigned int slot, struct traffic *t,
			 struct p2pmr_mr **mrp, pthread_t *thread)
{
	size_t i;

	for (i = 0; i < SLOT / 8; i++)
		*bar_word(h, slot, i) = 0;
	*mrp = reg_slots(h, slot, 1);
	if (!*mrp) {
		verdict(h, name, FAIL, "registering: %s", p2pmr_last_error());
		return -1;
	}
	t->iova = (*mrp)->iova;
	t->rkey = (*mrp)->rkey;
	if (pthread_create(thread, NULL, traffic_thread, t)) {
		p2pmr_dereg_mr(*mrp);
		verdict(h, name, FAIL, "pthread_create failed");
		return -1;
	}
	/* Long, for loaded emulators: a stall is what the checks then report. */
	wait_for(t, some_ok, OK_WAIT_MS);
	return 0;
}

static int pci_command(struct hwc *h, bool memory_on)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	int fd = p2pmr_device_fd(h->dev);
	uint16_t cmd;

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pread(fd, &cmd, 2, ri.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(errno, "reading PCI_COMMAND through VFIO failed");
	cmd = memory_on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(fd, &cmd, 2, ri.offset + PCI_COMMAND) != 2)
		return p2pmr_set_error(errno, "writing PCI_COMMAND through VFIO failed");
	return 0;
}

/* A word of the slot that holds a stamp of a work request posted after the revoke. */
static ssize_t stamp_after(struct hwc *h, unsigned int slot, const struct traffic *t)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < SLOT / 8; i++) {
		w = *bar_word(h, slot, i);
		if (w > t->revoked_at && w <= t->posted)
			return i;
	}
	return -1;
}

/*
 * After the restore: the same MR works again (CPU access, dynamic), or it
 * stays fenced and a new registration works (pinned). 0, or -1 with @why.
 */
static int after_restore(struct hwc *h, unsigned int slot, struct p2pmr_mr **mrp, char *out,
			 size_t outlen, char *why, size_t whylen)
{
	bool same_ok;
	int s;

	if (loop_reconnect(&h->loop)) {
		snprintf(why, whylen, "%s", p2pmr_last_error());
		return -1;
	}
	same_ok = !write_and_verify(h, slot, (*mrp)->iova, (*mrp)->rkey, 0xa11 + slot, why, whylen);
	if (same_ok) {
		if (h->mode == IMPORT_PINNED) {
			snprintf(why, whylen, "the pinned MR took a WRITE after the restore: it should stay fenced until registered again");
			return -1;
		}
		snprintf(out, outlen, "the same MR works after the restore");
		return 0;
	}
	if (h->mode == IMPORT_CPU || h->mode == IMPORT_DYNAMIC) {
		char tmp[DETAIL];

		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, whylen, "after the restore the same MR should work again: %.400s", tmp);
		return -1;
	}
	/* Fenced, as documented for pinned imports: register again. */
	p2pmr_dereg_mr(*mrp);
	*mrp = reg_slots(h, slot, 1);
	if (!*mrp) {
		snprintf(why, whylen, "registering again after the restore: %s", p2pmr_last_error());
		return -1;
	}
	s = loop_reconnect(&h->loop);
	if (s || write_and_verify(h, slot, (*mrp)->iova, (*mrp)->rkey, 0xb11 + slot, why, whylen)) {
		if (s)
			snprintf(why, whylen, "%s", p2pmr_last_error());
		return -1;
	}
	snprintf(out, outlen, "the MR stayed fenced after the restore; registered again, it works");
	return 0;
}

static enum verdict traffic_verdict(struct hwc *h, const char *name, struct traffic *t)
{
	if (t->err)
		return verdict(h, name, FAIL, "traffic stopped after %u work requests: %s",
			       t->ok + t->errors, t->why);
	if (t->bad)
		return verdict(h, name, FAIL, "work request %" PRIu64 " completed with %s; %s completes with %s or success (docs/rdma-importers.md)",
			       t->bad_stamp, ibv_wc_status_str(t->bad), h->driver,
			       ibv_wc_status_str(IBV_WC_REM_ACCESS_ERR));
	return PASS;
}

/* How a check revokes, and what it may then expect. */
struct revoke_way {
	const char *name;
	unsigned int slot;
	/* What the revoke is, for messages: "memory decode off", ... */
	const char *what;
	/* Revoke: 0 or an errno; sets t->revoked_at once the first revoke returned. */
	int (*revoke)(struct hwc *h, struct traffic *t, unsigned int *count);
	/* Bring the BAR back: 0 or an errno (NULL: the revoke itself restores). */
	int (*restore)(struct hwc *h);
	/*
	 * The BAR stays revoked until restore(): every WRITE posted after the
	 * revoke must fail and none may land. Otherwise (a reset, which
	 * restores by itself) only a pinned import must stay fenced.
	 */
	bool stays_revoked;
};

static void mark_revoked(struct traffic *t)
{
	__atomic_store_n(&t->revoked_at, __atomic_load_n(&t->posted, __ATOMIC_SEQ_CST),
			 __ATOMIC_SEQ_CST);
}

static int revoke_decode(struct hwc *h, struct traffic *t, unsigned int *count)
{
	int ret = pci_command(h, false) ? errno : 0;

	mark_revoked(t);
	*count = 1;
	return ret;
}

static int restore_decode(struct hwc *h)
{
	return pci_command(h, true) ? errno : 0;
}

static int revoke_reset(struct hwc *h, struct traffic *t, unsigned int *count)
{
	int ret = 0;

	for (*count = 0; *count < 3 && !ret; (*count)++) {
		ret = ioctl(p2pmr_device_fd(h->dev), VFIO_DEVICE_RESET) ? errno : 0;
		if (!*count)
			mark_revoked(t);
		usleep(100 * 1000);
	}
	if (ret)
		p2pmr_set_error(ret, "VFIO_DEVICE_RESET of %s failed (does the function support a reset? see the device's reset_method in sysfs)",
				h->o.pci);
	return ret;
}

static enum verdict check_revoke(struct hwc *h, const struct revoke_way *way)
{
	char after[DETAIL], why[DETAIL];
	struct traffic t = { .h = h };
	unsigned int count = 0;
	struct p2pmr_mr *mr;
	pthread_t thread;
	enum verdict v;
	ssize_t at;
	int ret;

	if (traffic_start(h, way->name, way->slot, &t, &mr, &thread))
		return FAIL;
	ret = way->revoke(h, &t, &count);
	if (!ret)
		wait_for(&t, some_after, h->o.seconds * 1000LL);
	t.stop = true;
	pthread_join(thread, NULL);
	if (way->restore) {
		int restored = way->restore(h);

		ret = ret ? ret : restored;
	}
	if (ret) {
		p2pmr_dereg_mr(mr);
		return verdict(h, way->name, FAIL, "%s", p2pmr_last_error());
	}
	printf("%s: %u WRITEs succeeded, %u failed; %u x %s after stamp %" PRIu64 ", then %u failed, %u succeeded\n",
	       way->name, t.ok, t.errors, count, way->what, t.revoked_at, t.after_errors,
	       t.after_ok);
	v = traffic_verdict(h, way->name, &t);
	if (v == FAIL)
		goto out;
	if (t.ok < OK_BEFORE) {
		v = verdict(h, way->name, FAIL, "only %u WRITEs succeeded before the revoke, in %d s",
			    t.ok, OK_WAIT_MS / 1000);
		goto out;
	}
	if (way->stays_revoked || h->mode == IMPORT_PINNED) {
		at = stamp_after(h, way->slot, &t);
		if (t.after_ok) {
			v = verdict(h, way->name, FAIL, "%u WRITEs posted after the %s completed successfully",
				    t.after_ok, way->what);
			goto out;
		}
		if (at >= 0) {
			v = verdict(h, way->name, FAIL, "BAR word 0x%" PRIx64 " holds stamp %" PRIu64 ", of a WRITE posted after the %s (last before: %" PRIu64 ")",
				    bar_off(h, way->slot, at), *bar_word(h, way->slot, at), way->what,
				    t.revoked_at);
			goto out;
		}
	}
	if (way->stays_revoked && !t.after_errors) {
		v = verdict(h, way->name, FAIL, "no WRITE completed in %u s after the %s",
			    h->o.seconds, way->what);
		goto out;
	}
	if (after_restore(h, way->slot, &mr, after, sizeof(after), why, sizeof(why))) {
		v = verdict(h, way->name, FAIL, "%s", why);
		goto out;
	}
	if (way->stays_revoked)
		v = verdict(h, way->name, PASS, "%u WRITEs after the %s failed (first: %s), no byte of them in the BAR; %s",
			    t.after_errors, way->what, ibv_wc_status_str(t.first_after), after);
	else
		v = verdict(h, way->name, PASS, "%u x %s under traffic: %u WRITEs succeeded, %u failed%s%s, none hung; %s",
			    count, way->what, t.ok, t.errors, t.errors ? " with " : "",
			    t.errors ? ibv_wc_status_str(t.first_error) : "", after);
out:
	if (mr)
		p2pmr_dereg_mr(mr);
	return v;
}

enum verdict check_revoke_decode(struct hwc *h)
{
	static const struct revoke_way decode = {
		.name = "revoke-decode",
		.slot = SLOT_REVOKE_DECODE,
		.what = "memory decode off",
		.revoke = revoke_decode,
		.restore = restore_decode,
		.stays_revoked = true,
	};

	return check_revoke(h, &decode);
}

enum verdict check_revoke_reset(struct hwc *h)
{
	static const struct revoke_way reset = {
		.name = "revoke-reset",
		.slot = SLOT_REVOKE_RESET,
		.what = "VFIO_DEVICE_RESET",
		.revoke = revoke_reset,
	};

	return check_revoke(h, &reset);
}
