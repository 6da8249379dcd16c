// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor: the kernel. Does it export VFIO BARs as dma-bufs (the
 * VFIO_DEVICE_FEATURE_DMA_BUF probe on an open device, else what its config
 * says), and in which IOMMU mode does it run.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "p2pmr.h"
#include "doctor.h"

#define KERNEL_FIX \
	"install the p2pmr kernel (kernel/ of this repository: Linux 6.12 with VFIO dma-buf export; Linux 6.19 and later have it too)"

/* What the kernel's config says of CONFIG_VFIO_PCI_DMABUF: 1 y, 0 n, -1 unknown. */
static int config_says(const struct doctor *d, char *where, size_t len)
{
	char release[128], path[PATH_MAX], line[256];
	int found = 0;
	FILE *f;

	if (ds_read(d, release, sizeof(release), "/proc/sys/kernel/osrelease"))
		return -1;
	if (ds_path(d, path, sizeof(path), "/boot/config-%s", release))
		return -1;
	snprintf(where, len, "/boot/config-%s", release);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CONFIG_VFIO_PCI_DMABUF=y", 24)) {
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool bound_to_vfio(const struct doctor *d, const char *pci)
{
	char drv[64];

	return !ds_link_name(d, drv, sizeof(drv), "/sys/bus/pci/devices/%s/driver", pci) &&
	       !strcmp(drv, "vfio-pci");
}

/*
 * Probe one device: 1 supported, 0 not (the kernel lacks the feature), -1
 * cannot tell (the device did not open; @why says why).
 */
static int probe(const char *pci, char *why, size_t len)
{
	struct p2pmr_device *dev;
	int ret;

	if (p2pmr_device_open(pci, P2PMR_VFIO_API_AUTO, &dev)) {
		snprintf(why, len, "%s", p2pmr_last_error());
		return -1;
	}
	ret = p2pmr_dmabuf_supported(dev);
	if (!ret && errno != EOPNOTSUPP) {
		snprintf(why, len, "%s", p2pmr_last_error());
		ret = -1;
	}
	p2pmr_device_close(dev);
	return ret;
}

/* The devices to probe: those named, else every one bound to vfio-pci. */
static unsigned int probe_candidates(const struct doctor *d, char (*cand)[DS_NAME],
				     unsigned int max)
{
	unsigned int i, n = 0;

	if (!d->nr_pci)
		return ds_list(d, cand, max, ds_is_pci_addr, "/sys/bus/pci/drivers/vfio-pci");
	for (i = 0; i < d->nr_pci && n < max; i++)
		if (ds_pci_exists(d, d->pci[i]) && bound_to_vfio(d, d->pci[i]))
			snprintf(cand[n++], DS_NAME, "%s", d->pci[i]);
	return n;
}

void doctor_check_kernel(struct doctor *d)
{
	char cand[DOCTOR_MAX_PCI][DS_NAME], why[DOCTOR_TEXT] = "", where[PATH_MAX] = "";
	unsigned int n, i;
	struct doctor_row *row;
	const char *probed;
	int ret = -1, config;

	n = d->fake_root ? 0 : probe_candidates(d, cand, DOCTOR_MAX_PCI);
	for (i = 0; i < n && ret < 0; i++)
		ret = probe(cand[i], why, sizeof(why));
	if (ret == 1) {
		doctor_add(d, "kernel", cand[i - 1], DOCTOR_OK,
			   "VFIO_DEVICE_FEATURE_DMA_BUF: supported (probed on the device)");
		return;
	}
	if (ret == 0) {
		row = doctor_add(d, "kernel", cand[i - 1], DOCTOR_FAIL,
				 "kernel lacks VFIO_DEVICE_FEATURE_DMA_BUF (the probe on the device: not supported): it cannot export BARs as dma-bufs");
		doctor_fix(row, KERNEL_FIX);
		return;
	}
	config = config_says(d, where, sizeof(where));
	if (config == 0) {
		row = doctor_add(d, "kernel", "system", DOCTOR_FAIL,
				 "kernel lacks VFIO_DEVICE_FEATURE_DMA_BUF: %s has no CONFIG_VFIO_PCI_DMABUF=y",
				 where);
		doctor_fix(row, KERNEL_FIX);
		return;
	}
	row = doctor_add(d, "kernel", "system", config == 1 ? DOCTOR_OK : DOCTOR_WARN,
			 "%s%s%s", config == 1 ? "CONFIG_VFIO_PCI_DMABUF=y in " : "",
			 config == 1 ? where : "", config == 1 ? "; " : "");
	if (d->fake_root)
		probed = "VFIO_DEVICE_FEATURE_DMA_BUF not probed (P2PMR_DOCTOR_ROOT is set)";
	else if (n)
		probed = "cannot probe VFIO_DEVICE_FEATURE_DMA_BUF: ";
	else
		probed = "cannot probe VFIO_DEVICE_FEATURE_DMA_BUF until a device is bound to vfio-pci";
	snprintf(row->detail + strlen(row->detail), sizeof(row->detail) - strlen(row->detail),
		 "%s%s", probed, why);
	if (config != 1)
		doctor_fix(row,
			   "bind the device to vfio-pci and run the doctor again; the kernel needs CONFIG_VFIO_PCI_DMABUF (the p2pmr kernel, or Linux 6.19 and later)");
}

static unsigned int count_entries(const struct doctor *d, const char *dirpath, char *first,
				  size_t len)
{
	char names[256][DS_NAME];
	unsigned int n;

	n = ds_list(d, names, 256, NULL, "%s", dirpath);
	if (n && first)
		snprintf(first, len, "%s", names[0]);
	return n;
}

/* The IOMMU parameters of the kernel command line, for the message. */
static void iommu_params(char *cmdline, char *buf, size_t len)
{
	char *save, *tok;
	size_t n = 0;

	buf[0] = '\0';
	for (tok = strtok_r(cmdline, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		if (strstr(tok, "iommu") && n < len)
			n += snprintf(buf + n, len - n, "%s%s", n ? " " : "", tok);
	if (!n)
		snprintf(buf, len, "no IOMMU parameter");
}

void doctor_check_iommu(struct doctor *d)
{
	char unit[64] = "", noiommu[8] = "", cmdline[4096] = "", params[256];
	unsigned int units, groups;
	struct doctor_row *row;

	units = count_entries(d, "/sys/class/iommu", unit, sizeof(unit));
	groups = count_entries(d, "/sys/kernel/iommu_groups", NULL, 0);
	ds_read(d, noiommu, sizeof(noiommu), "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
	ds_read(d, cmdline, sizeof(cmdline), "/proc/cmdline");
	iommu_params(cmdline, params, sizeof(params));
	if (units && groups) {
		doctor_add(d, "iommu", "system", DOCTOR_OK, "on: %s%s, %u IOMMU groups", unit,
			   units > 1 ? " and more" : "", groups);
		return;
	}
	if (noiommu[0] == 'Y' || noiommu[0] == '1') {
		row = doctor_add(d, "iommu", "system", DOCTOR_WARN,
				 "off (no IOMMU in /sys/class/iommu); VFIO runs in no-IOMMU mode (enable_unsafe_noiommu_mode=Y): devices DMA to physical addresses, unprotected, and only CAP_SYS_RAWIO may open them");
		doctor_fix(row,
			   "for isolation, enable the IOMMU: boot with intel_iommu=on (Intel) or amd_iommu=on (AMD), with VT-d/AMD-Vi on in the firmware");
		return;
	}
	row = doctor_add(d, "iommu", "system", DOCTOR_FAIL,
			 "off (no IOMMU in /sys/class/iommu, %u IOMMU groups; kernel command line: %s): vfio-pci has no group to give a device",
			 groups, params);
	doctor_fix(row,
		   "boot with intel_iommu=on (Intel) or amd_iommu=on (AMD), with VT-d/AMD-Vi on in the firmware; without an IOMMU, load vfio with enable_unsafe_noiommu_mode=1 (unsafe: no DMA protection)");
}
