// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor: the device whose BAR is the RDMA target. Is it bound to
 * vfio-pci (and if not, the commands that bind it), may this user open its
 * group or cdev, what is its IOMMU group, and is the BAR fit (a memory
 * BAR; a register BAR gets a warning).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"
#include "sizes.h"

#define PCI_CLASS_NVME 0x010802

static bool check_binding(struct doctor *d, const char *pci)
{
	char drv[64] = "", override[64] = "";
	struct doctor_row *row;
	const char *dev = "/sys/bus/pci/devices";

	ds_link_name(d, drv, sizeof(drv), "%s/%s/driver", dev, pci);
	if (!strcmp(drv, "vfio-pci")) {
		doctor_add(d, "binding", pci, DOCTOR_OK, "bound to vfio-pci");
		return true;
	}
	ds_read(d, override, sizeof(override), "%s/%s/driver_override", dev, pci);
	row = doctor_add(d, "binding", pci, DOCTOR_FAIL, "%s%s%s: not vfio-pci",
			 drv[0] ? "bound to " : "bound to no driver", drv,
			 override[0] && strcmp(override, "(null)") ? " (driver_override set)" : "");
	if (drv[0])
		doctor_fix(row,
			   "%secho vfio-pci > %s/%s/driver_override; echo %s > %s/%s/driver/unbind; echo %s > /sys/bus/pci/drivers_probe",
			   ds_exists(d, "/sys/bus/pci/drivers/vfio-pci") ? "" : "modprobe vfio-pci; ",
			   dev, pci, pci, dev, pci, pci);
	else
		doctor_fix(row,
			   "%secho vfio-pci > %s/%s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
			   ds_exists(d, "/sys/bus/pci/drivers/vfio-pci") ? "" : "modprobe vfio-pci; ",
			   dev, pci, pci);
	return false;
}

/* 0 when this user may open @node read-write, else ENOENT or EACCES. */
static int node_access(const struct doctor *d, const char *node)
{
	char path[PATH_MAX];

	ds_path(d, path, sizeof(path), "%s", node);
	if (access(path, F_OK))
		return ENOENT;
	return access(path, R_OK | W_OK) ? EACCES : 0;
}

static bool is_vfio_cdev(const char *name)
{
	return !strncmp(name, "vfio", 4);
}

/* The vfioN below the device's vfio-dev directory (the cdev API). */
static bool cdev_name(const struct doctor *d, const char *pci, char *buf, size_t len)
{
	char names[1][DS_NAME];

	if (!ds_list(d, names, 1, is_vfio_cdev, "/sys/bus/pci/devices/%s/vfio-dev", pci))
		return false;
	snprintf(buf, len, "%s", names[0]);
	return true;
}

/*
 * The nodes libp2pmr opens: the group (/dev/vfio/N, or noiommu-N) or the
 * cdev (/dev/vfio/devices/vfioX with /dev/iommu); either will do.
 */
static void check_access(struct doctor *d, const char *pci)
{
	char group[32] = "", type[32] = "", cdev[DS_NAME], gnode[64], cnode[32 + DS_NAME];
	struct doctor_row *row;
	int gret, cret = ENOENT;

	ds_link_name(d, group, sizeof(group), "/sys/bus/pci/devices/%s/iommu_group", pci);
	if (!group[0]) {
		row = doctor_add(d, "access", pci, DOCTOR_FAIL,
				 "the device is in no IOMMU group: VFIO cannot give it to userspace");
		doctor_fix(row, "see the iommu check");
		return;
	}
	ds_read(d, type, sizeof(type), "/sys/kernel/iommu_groups/%s/type", group);
	snprintf(gnode, sizeof(gnode), "/dev/vfio/%s%s",
		 ds_exists(d, "/dev/vfio/noiommu-%s", group) ? "noiommu-" : "", group);
	gret = node_access(d, gnode);
	if (cdev_name(d, pci, cdev, sizeof(cdev))) {
		snprintf(cnode, sizeof(cnode), "/dev/vfio/devices/%s", cdev);
		cret = node_access(d, cnode);
		if (!cret)
			cret = node_access(d, "/dev/iommu");
	}
	if (!gret || !cret) {
		doctor_add(d, "access", pci, DOCTOR_OK,
			   "IOMMU group %s%s%s; read-write for this user: %s%s%s", group,
			   type[0] ? ", type " : "", type, !gret ? gnode : "",
			   !gret && !cret ? " and " : "", !cret ? cnode : "");
		return;
	}
	if (gret == ENOENT && cret == ENOENT) {
		row = doctor_add(d, "access", pci, DOCTOR_FAIL,
				 "IOMMU group %s, but %s does not exist", group, gnode);
		doctor_fix(row, "rebind the device to vfio-pci; check that udev made %s", gnode);
		return;
	}
	row = doctor_add(d, "access", pci, DOCTOR_FAIL,
			 "IOMMU group %s: this user (uid %u) cannot open %s read-write", group,
			 (unsigned int)getuid(), gnode);
	doctor_fix(row,
		   "run as root, or give the user the group: chown <user> %s (lasting: a udev rule, SUBSYSTEM==\"vfio\", OWNER=\"<user>\")",
		   gnode);
}

static void one_bar(struct doctor *d, const char *pci, unsigned int bar, bool named,
		    uint32_t class)
{
	struct doctor_row *row;
	char subject[64], size[32];
	struct ds_bar b;
	int ret;

	snprintf(subject, sizeof(subject), "%s BAR %u", pci, bar);
	ret = ds_pci_bar(d, pci, bar, &b);
	if (ret || !b.size) {
		if (!named)
			return;
		row = doctor_add(d, "bar", subject, DOCTOR_FAIL, "%s",
				 ret ? "cannot read the device's resource file" :
				       "not implemented (size 0)");
		doctor_fix(row, "pick a memory BAR of the device (p2pmr list, or lspci -v)");
		return;
	}
	format_size(b.size, size, sizeof(size));
	if (b.is_io) {
		row = doctor_add(d, "bar", subject, named ? DOCTOR_FAIL : DOCTOR_NA,
				 "an I/O-port BAR (%s): only memory BARs can be exported as dma-bufs",
				 size);
		if (named)
			doctor_fix(row, "pick a memory BAR of the device (p2pmr list, or lspci -v)");
		return;
	}
	if (class == PCI_CLASS_NVME && bar == 0) {
		row = doctor_add(d, "bar", subject, DOCTOR_WARN,
				 "memory, %s, %sprefetchable: BAR 0 of an NVMe controller holds its registers: RDMA into it writes controller registers",
				 size, b.is_prefetchable ? "" : "non-");
		doctor_fix(row, "target the controller memory buffer (the CMB's BAR, lspci -vv: \"CMB\") instead");
		return;
	}
	if (!b.is_prefetchable) {
		row = doctor_add(d, "bar", subject, DOCTOR_WARN,
				 "memory, %s, non-prefetchable: likely device registers, where reads and writes have side effects",
				 size);
		doctor_fix(row, "target a prefetchable BAR (device memory) unless this one is meant for data");
		return;
	}
	doctor_add(d, "bar", subject, DOCTOR_OK, "memory, %s, prefetchable%s", size,
		   b.is_64bit ? ", 64-bit" : "");
}

void doctor_check_device(struct doctor *d, const char *pci)
{
	struct doctor_row *row;
	uint64_t class = 0;
	unsigned int bar;

	if (!ds_pci_exists(d, pci)) {
		row = doctor_add(d, "binding", pci, DOCTOR_FAIL, "%s",
				 ds_is_pci_addr(pci) ? "no such PCI device" :
				 "not a PCI address (want DDDD:BB:SS.F, lower case)");
		doctor_fix(row, "name a device as lspci -D shows it");
		return;
	}
	if (check_binding(d, pci))
		check_access(d, pci);
	ds_read_u64(d, &class, "/sys/bus/pci/devices/%s/class", pci);
	if (d->bar >= 0) {
		one_bar(d, pci, d->bar, true, class);
		return;
	}
	for (bar = 0; bar < 6; bar++)
		one_bar(d, pci, bar, false, class);
}
