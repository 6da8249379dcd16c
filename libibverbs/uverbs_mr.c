// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The raw uverbs layer: registering a dma-buf MR and destroying an MR with
 * the kernel's ioctl interface (RDMA_VERBS_IOCTL) on a verbs command fd,
 * without the provider library. Providers in rdma-core 44 other than mlx5
 * and efa have no reg_dmabuf_mr op, although the kernel driver may.
 *
 * Encoding (drivers/infiniband/core/uverbs_ioctl.c): a header naming the
 * object and method, then one attribute per argument. Inputs of up to
 * 8 bytes travel inline in attr.data and their len must be the exact size
 * of the type; outputs are pointers; object handles (IDR) have len 0 and
 * the handle in data, and for a new object the kernel writes the handle
 * back there. The header's driver_id must equal the kernel driver's.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "p2pmr.h"
#include "p2pmr_private.h"

#define UVERBS_MAX_ATTRS 9
/* No driver id is this large (enum rdma_driver_id has about 25). */
#define UVERBS_DRIVER_ID_LIMIT 64

struct uverbs_cmd {
	union {
		struct ib_uverbs_ioctl_hdr hdr;
		uint8_t room[sizeof(struct ib_uverbs_ioctl_hdr) +
			     UVERBS_MAX_ATTRS * sizeof(struct ib_uverbs_attr)];
	};
};

static void cmd_init(struct uverbs_cmd *cmd, uint16_t object, uint16_t method)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->hdr.object_id = object;
	cmd->hdr.method_id = method;
}

static struct ib_uverbs_attr *cmd_attr(struct uverbs_cmd *cmd, uint16_t id)
{
	struct ib_uverbs_attr *attr = &cmd->hdr.attrs[cmd->hdr.num_attrs++];

	attr->attr_id = id;
	attr->flags = UVERBS_ATTR_F_MANDATORY;
	return attr;
}

static void cmd_in_u64(struct uverbs_cmd *cmd, uint16_t id, uint64_t value)
{
	struct ib_uverbs_attr *attr = cmd_attr(cmd, id);

	attr->len = sizeof(value);
	attr->data = value;
}

/* Inline data is the value's bytes at the start of data (any endianness). */
static void cmd_in_u32(struct uverbs_cmd *cmd, uint16_t id, uint32_t value)
{
	struct ib_uverbs_attr *attr = cmd_attr(cmd, id);

	attr->len = sizeof(value);
	memcpy(&attr->data, &value, sizeof(value));
}

static void cmd_out_u32(struct uverbs_cmd *cmd, uint16_t id, uint32_t *out)
{
	struct ib_uverbs_attr *attr = cmd_attr(cmd, id);

	attr->len = sizeof(*out);
	attr->data = (uintptr_t)out;
}

static struct ib_uverbs_attr *cmd_handle(struct uverbs_cmd *cmd, uint16_t id,
					 uint32_t handle)
{
	struct ib_uverbs_attr *attr = cmd_attr(cmd, id);

	attr->data = handle;
	return attr;
}

/* Return 0 or the errno of the ioctl. */
static int cmd_execute(int cmd_fd, uint32_t driver_id, struct uverbs_cmd *cmd)
{
	cmd->hdr.length = sizeof(cmd->hdr) + cmd->hdr.num_attrs * sizeof(cmd->hdr.attrs[0]);
	cmd->hdr.driver_id = driver_id;
	if (ioctl(cmd_fd, RDMA_VERBS_IOCTL, &cmd->hdr))
		return errno;
	return 0;
}

/*
 * The driver id of the device behind a command fd, as rdma-core learns it
 * over netlink. Cheaper to ask the fd itself: the kernel checks driver_id
 * before anything else and answers EINVAL to a wrong one, so a method that
 * takes no attributes and changes nothing (QUERY_CONTEXT) tells which id is
 * right. Results are kept per character device (a driver id cannot change
 * while the device exists; a new device gets a new minor at the earliest
 * after the old one is gone, and then the first failed call probes again).
 */
struct driver_id_cache_entry {
	dev_t rdev;
	uint32_t driver_id;
};

static pthread_mutex_t driver_id_lock = PTHREAD_MUTEX_INITIALIZER;
/* Protected by driver_id_lock; a small ring, most recent first found. */
static struct driver_id_cache_entry driver_id_cache[8];
static unsigned int driver_id_cache_next;

static bool driver_id_cached(dev_t rdev, uint32_t *driver_id)
{
	bool found = false;
	unsigned int i;

	pthread_mutex_lock(&driver_id_lock);
	for (i = 0; i < sizeof(driver_id_cache) / sizeof(driver_id_cache[0]); i++) {
		if (driver_id_cache[i].rdev == rdev) {
			*driver_id = driver_id_cache[i].driver_id;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&driver_id_lock);
	return found;
}

static void driver_id_remember(dev_t rdev, uint32_t driver_id)
{
	unsigned int n = sizeof(driver_id_cache) / sizeof(driver_id_cache[0]);

	pthread_mutex_lock(&driver_id_lock);
	driver_id_cache[driver_id_cache_next % n].rdev = rdev;
	driver_id_cache[driver_id_cache_next % n].driver_id = driver_id;
	driver_id_cache_next++;
	pthread_mutex_unlock(&driver_id_lock);
}

static void driver_id_forget(dev_t rdev)
{
	unsigned int i;

	pthread_mutex_lock(&driver_id_lock);
	for (i = 0; i < sizeof(driver_id_cache) / sizeof(driver_id_cache[0]); i++)
		if (driver_id_cache[i].rdev == rdev)
			driver_id_cache[i].rdev = 0;
	pthread_mutex_unlock(&driver_id_lock);
}

static int probe_driver_id(int cmd_fd, uint32_t *driver_id)
{
	struct uverbs_cmd cmd;
	uint32_t id;
	int err;

	for (id = 0; id < UVERBS_DRIVER_ID_LIMIT; id++) {
		cmd_init(&cmd, UVERBS_OBJECT_DEVICE, UVERBS_METHOD_QUERY_CONTEXT);
		err = cmd_execute(cmd_fd, id, &cmd);
		if (err == ENOTTY)
			return p2pmr_set_error(ENOTTY,
					       "fd %d is not a verbs command fd (/dev/infiniband/uverbsN), or the kernel has no verbs ioctls",
					       cmd_fd);
		if (err != EINVAL) {
			*driver_id = id;
			return 0;
		}
	}
	return p2pmr_set_error(EINVAL, "the kernel refused every driver id on verbs command fd %d",
			       cmd_fd);
}

static int uverbs_driver_id(int cmd_fd, dev_t *rdev, uint32_t *driver_id)
{
	struct stat st;
	int ret;

	if (fstat(cmd_fd, &st))
		return p2pmr_set_error(EBADF, "verbs command fd %d is not open", cmd_fd);
	if (!S_ISCHR(st.st_mode))
		return p2pmr_set_error(ENOTTY, "fd %d is not a verbs command fd (/dev/infiniband/uverbsN)",
				       cmd_fd);
	*rdev = st.st_rdev;
	if (driver_id_cached(st.st_rdev, driver_id))
		return 0;
	ret = probe_driver_id(cmd_fd, driver_id);
	if (!ret)
		driver_id_remember(st.st_rdev, *driver_id);
	return ret;
}

/*
 * Run a command: 0 or an errno. A message is recorded only when the fd
 * itself is wrong; kernel errors are left for the caller to explain.
 * On EINVAL the remembered driver id may be stale (another device took the
 * minor): probe again, and run again if the id changed.
 */
static int uverbs_run(int cmd_fd, struct uverbs_cmd *cmd)
{
	uint32_t driver_id, stale_id;
	dev_t rdev;
	int ret, err;

	ret = uverbs_driver_id(cmd_fd, &rdev, &driver_id);
	if (ret)
		return ret;
	err = cmd_execute(cmd_fd, driver_id, cmd);
	if (err != EINVAL)
		return err;
	stale_id = driver_id;
	driver_id_forget(rdev);
	ret = uverbs_driver_id(cmd_fd, &rdev, &driver_id);
	if (ret)
		return ret;
	if (driver_id == stale_id)
		return EINVAL;
	return cmd_execute(cmd_fd, driver_id, cmd);
}

/* Optional access bits are hints; the kernel takes only relaxed ordering. */
#define OPTIONAL_ACCESS_RANGE (((IB_UVERBS_ACCESS_OPTIONAL_LAST << 1) - 1) & \
			       ~(IB_UVERBS_ACCESS_OPTIONAL_FIRST - 1))

/**
 * p2pmr_uverbs_reg_dmabuf_mr() - register a dma-buf MR through the kernel
 * @cmd_fd: verbs command fd (ibv_context.cmd_fd, pyverbs Context.cmd_fd)
 * @pd_handle: kernel handle of a PD of that context (ibv_pd.handle)
 * @keys: the new MR's handle and keys on success
 *
 * Return: 0, or an errno with p2pmr_last_error() saying why.
 */
int p2pmr_uverbs_reg_dmabuf_mr(int cmd_fd, uint32_t pd_handle, uint64_t offset,
			       uint64_t length, uint64_t iova, int fd, int access,
			       struct p2pmr_mr_keys *keys)
{
	struct ib_uverbs_attr *handle;
	uint32_t lkey = 0, rkey = 0;
	struct uverbs_cmd cmd;
	int ret;

	p2pmr_clear_error();
	if (!keys)
		return p2pmr_set_error(EINVAL, "no place for the MR's keys");
	/* Optional bits are hints the kernel may ignore; drop those it refuses. */
	access &= ~(OPTIONAL_ACCESS_RANGE & ~IB_UVERBS_ACCESS_RELAXED_ORDERING);
	ret = p2pmr_check_dmabuf_mr_access(access);
	if (ret)
		return ret;

	cmd_init(&cmd, UVERBS_OBJECT_MR, UVERBS_METHOD_REG_DMABUF_MR);
	handle = cmd_handle(&cmd, UVERBS_ATTR_REG_DMABUF_MR_HANDLE, 0);
	cmd_handle(&cmd, UVERBS_ATTR_REG_DMABUF_MR_PD_HANDLE, pd_handle);
	cmd_in_u64(&cmd, UVERBS_ATTR_REG_DMABUF_MR_OFFSET, offset);
	cmd_in_u64(&cmd, UVERBS_ATTR_REG_DMABUF_MR_LENGTH, length);
	cmd_in_u64(&cmd, UVERBS_ATTR_REG_DMABUF_MR_IOVA, iova);
	cmd_in_u32(&cmd, UVERBS_ATTR_REG_DMABUF_MR_FD, fd);
	cmd_in_u64(&cmd, UVERBS_ATTR_REG_DMABUF_MR_ACCESS_FLAGS, access);
	cmd_out_u32(&cmd, UVERBS_ATTR_REG_DMABUF_MR_RESP_LKEY, &lkey);
	cmd_out_u32(&cmd, UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY, &rkey);

	ret = uverbs_run(cmd_fd, &cmd);
	if (ret && p2pmr_last_error()[0])
		return ret;
	if (ret)
		return p2pmr_explain_dmabuf_mr(ret, offset, length, iova, fd, access);
	keys->handle = handle->data;
	keys->lkey = lkey;
	keys->rkey = rkey;
	return 0;
}

/**
 * p2pmr_uverbs_dereg_mr() - destroy an MR by its kernel handle
 *
 * Return: 0, or an errno (EBUSY: a memory window is still bound).
 */
int p2pmr_uverbs_dereg_mr(int cmd_fd, uint32_t mr_handle)
{
	struct uverbs_cmd cmd;
	int ret;

	p2pmr_clear_error();
	cmd_init(&cmd, UVERBS_OBJECT_MR, UVERBS_METHOD_MR_DESTROY);
	cmd_handle(&cmd, UVERBS_ATTR_DESTROY_MR_HANDLE, mr_handle);
	ret = uverbs_run(cmd_fd, &cmd);
	if (!ret || p2pmr_last_error()[0])
		return ret;
	if (ret == EINVAL || ret == ENOENT)
		return p2pmr_set_error(ret, "no MR with handle %" PRIu32 " on verbs command fd %d",
				       mr_handle, cmd_fd);
	return p2pmr_set_error(ret, "destroying MR %" PRIu32 " failed", mr_handle);
}
