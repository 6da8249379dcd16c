// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * p2pmr doctor: the PCI path between the NIC's function and the BAR's
 * device, and the map type the kernel would choose for it.
 *
 * The rule is that of Linux 6.12 drivers/pci/p2pdma.c,
 * calc_map_type_and_dist(), applied to what sysfs shows:
 *  - walk up from the provider (the BAR's device) until a bridge that is
 *    also upstream of the client (the NIC): the common upstream bridge;
 *  - if there is one and no function on the way (the provider's side up
 *    to and including that bridge, the client's side below it) has ACS
 *    P2P Request Redirect, Completion Redirect or Egress Control enabled,
 *    the devices talk by PCI bus address (PCI_P2PDMA_MAP_BUS_ADDR);
 *  - otherwise traffic goes through the host bridge
 *    (PCI_P2PDMA_MAP_THRU_HOST_BRIDGE), which the kernel allows only when
 *    the CPU is an AMD of family 17h (Zen) or later, or the host bridge
 *    (the first device of the root bus: devfn 00.0 or a root port) is on
 *    its whitelist; else PCI_P2PDMA_MAP_NOT_SUPPORTED.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

/* Linux 6.12 pci_p2pdma_whitelist[]. */
static const struct {
	unsigned short vendor, device;
	bool same_host_bridge;	/* REQ_SAME_HOST_BRIDGE */
} whitelist[] = {
	{ 0x8086, 0x3c00, true },	/* Intel Xeon E5/Core i7 */
	{ 0x8086, 0x3c01, true },
	{ 0x8086, 0x2f00, true },	/* Intel Xeon E7 v3/Xeon E5 v3/Core i7 */
	{ 0x8086, 0x2f01, true },
	{ 0x8086, 0x2030, false },	/* Intel Skylake-E */
	{ 0x8086, 0x2031, false },
	{ 0x8086, 0x2032, false },
	{ 0x8086, 0x2033, false },
	{ 0x8086, 0x2020, false },
	{ 0x8086, 0x09a2, false },
};

#define PCI_EXT_CAP_ID_ACS	0x0d
#define PCI_ACS_CTRL		6
#define PCI_ACS_RR		0x0004
#define PCI_ACS_CR		0x0008
#define PCI_ACS_EC		0x0020

/*
 * The ACS redirect bits of @pci from its config space: 1 set, 0 clear (or
 * no ACS capability), -1 unknown (only root reads past the first 64 bytes).
 */
static int acs_redirects(const struct doctor *d, const char *pci)
{
	unsigned char cfg[4096];
	char path[PATH_MAX];
	unsigned int pos = 0x100, hops = 0;
	size_t len;
	FILE *f;

	if (ds_path(d, path, sizeof(path), "/sys/bus/pci/devices/%s/config", pci))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	len = fread(cfg, 1, sizeof(cfg), f);
	fclose(f);
	if (len <= 64)
		return -1;
	if (len < 0x104)
		return 0;	/* conventional PCI: no extended capabilities */
	while (pos >= 0x100 && pos + 8 <= len && hops++ < 256) {
		unsigned int hdr = cfg[pos] | cfg[pos + 1] << 8 | cfg[pos + 2] << 16 |
				   (unsigned int)cfg[pos + 3] << 24;

		if (!hdr || hdr == 0xffffffff)
			return 0;
		if ((hdr & 0xffff) == PCI_EXT_CAP_ID_ACS) {
			unsigned int ctrl = cfg[pos + PCI_ACS_CTRL] | cfg[pos + PCI_ACS_CTRL + 1] << 8;

			return !!(ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC));
		}
		pos = hdr >> 20;
	}
	return 0;
}

/* AMD family 17h (Zen) or later: cpu_supports_p2pdma(). */
static bool cpu_allows(const struct doctor *d, char *cpu, size_t len)
{
	char path[PATH_MAX], line[256], vendor[64] = "?";
	unsigned int family = 0;
	bool has_family = false;
	FILE *f;

	snprintf(cpu, len, "unknown CPU");
	if (ds_path(d, path, sizeof(path), "/proc/cpuinfo"))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f) && !(has_family && strcmp(vendor, "?"))) {
		if (!strncmp(line, "vendor_id", 9) && strchr(line, ':'))
			sscanf(strchr(line, ':') + 1, "%63s", vendor);
		else if (!strncmp(line, "cpu family", 10) && strchr(line, ':'))
			has_family = sscanf(strchr(line, ':') + 1, "%u", &family) == 1;
	}
	fclose(f);
	snprintf(cpu, len, "%s family %u (0x%x)", vendor, family, family);
	return !strcmp(vendor, "AuthenticAMD") && family >= 0x17;
}

/*
 * pci_host_bridge_dev(): the first device of the host bridge's bus if it is
 * devfn 00.0 or a root port (taken here as a PCI bridge: class 0604).
 * Its vendor:device into @vd/@dd; false when there is none.
 */
static bool host_bridge_dev(const struct doctor *d, const char *host, char *name, size_t len,
			    unsigned int *vd, unsigned int *dd)
{
	uint64_t vendor, device, class = 0;
	char first[256][DS_NAME];

	if (!ds_list(d, first, 256, ds_is_pci_addr, "/sys/devices/%s", host))
		return false;
	ds_read_u64(d, &class, "/sys/devices/%s/%s/class", host, first[0]);
	if ((strcmp(first[0] + 8, "00.0") && class >> 8 != 0x0604) ||
	    ds_read_u64(d, &vendor, "/sys/devices/%s/%s/vendor", host, first[0]) ||
	    ds_read_u64(d, &device, "/sys/devices/%s/%s/device", host, first[0]))
		return false;
	snprintf(name, len, "%.12s", first[0]);	/* DDDD:BB:SS.F */
	*vd = vendor;
	*dd = device;
	return true;
}

/* __host_bridge_whitelist() of one host bridge; @why says what it is. */
static bool bridge_listed(const struct doctor *d, const char *host, bool same, char *why,
			  size_t len)
{
	unsigned int vendor, device, i;
	char name[16];

	if (!host_bridge_dev(d, host, name, sizeof(name), &vendor, &device)) {
		snprintf(why, len, "%s has no host bridge device (00.0 or a root port)", host);
		return false;
	}
	for (i = 0; i < sizeof(whitelist) / sizeof(whitelist[0]); i++) {
		if (whitelist[i].vendor != vendor || whitelist[i].device != device)
			continue;
		snprintf(why, len, "host bridge %s %04x:%04x is on the kernel's list%s", name,
			 vendor, device,
			 whitelist[i].same_host_bridge && !same ? " only within one host bridge" : "");
		return !whitelist[i].same_host_bridge || same;
	}
	snprintf(why, len, "host bridge %s %04x:%04x is not on the kernel's list", name, vendor,
		 device);
	return false;
}

/* The functions of @c from @from to @to (upwards, or downwards if @to < @from). */
static size_t path_text(const struct ds_pci_chain *c, int from, int to, char *buf, size_t len)
{
	int step = to >= from ? 1 : -1, i;
	size_t n = 0;

	for (i = from; i != to + step && n < len; i += step)
		n += snprintf(buf + n, len - n, "%s%s", n ? (step > 0 ? " > " : " < ") : "",
			      c->dev[i]);
	return n;
}

void doctor_check_path(struct doctor *d, const char *nic, const char *nic_why, const char *pci)
{
	char subject[64], cpu[96], why_a[160] = "", why_b[160] = "", acs_list[256] = "";
	char route[DOCTOR_TEXT / 2];
	struct ds_pci_chain a, b;
	enum doctor_map_type map;
	int ia = -1, ib = -1, i, j, acs, unknown = 0, acs_cnt = 0;
	bool allowed, same_host;
	struct doctor_row *row;
	size_t n = 0;

	if (!nic) {
		row = doctor_add(d, "path", pci, DOCTOR_NA, "%s", nic_why);
		doctor_fix(row, "to check the path to a NIC, name its PCI function: --peer DDDD:BB:SS.F");
		return;
	}
	snprintf(subject, sizeof(subject), "%s > %s", nic, pci);
	if (ds_pci_chain(d, pci, &a) || ds_pci_chain(d, nic, &b)) {
		row = doctor_add(d, "path", subject, DOCTOR_FAIL,
				 "cannot find %s in /sys/devices", ds_pci_chain(d, pci, &a) ? pci : nic);
		doctor_fix(row, "name PCI functions as lspci -D shows them");
		return;
	}
	for (i = 0; i < (int)a.len && ia < 0; i++)
		for (j = 0; j < (int)b.len && ia < 0; j++)
			if (!strcmp(a.dev[i], b.dev[j]) && !strcmp(a.host, b.host)) {
				ia = i;
				ib = j;
			}
	if (ia >= 0) {
		/* The provider's side up to and including the common bridge, the client's below it. */
		for (i = 0; i <= ia + (int)b.len; i++) {
			const char *dev = i <= ia ? a.dev[i] : (i - ia - 1 < ib ? b.dev[i - ia - 1] : NULL);

			if (!dev)
				break;
			acs = acs_redirects(d, dev);
			if (acs < 0)
				unknown++;
			if (acs > 0 && n < sizeof(acs_list)) {
				n += snprintf(acs_list + n, sizeof(acs_list) - n, "%s%s", acs_cnt ? ";" : "", dev);
				acs_cnt++;
			}
		}
	}
	same_host = !strcmp(a.host, b.host);
	allowed = cpu_allows(d, cpu, sizeof(cpu));
	if (!allowed) {
		allowed = bridge_listed(d, a.host, same_host, why_a, sizeof(why_a));
		if (!same_host)
			allowed = bridge_listed(d, b.host, false, why_b, sizeof(why_b)) && allowed;
	}
	if (ia >= 0 && !acs_cnt)
		map = DOCTOR_MAP_BUS_ADDR;
	else
		map = allowed ? DOCTOR_MAP_THRU_HOST_BRIDGE : DOCTOR_MAP_NOT_SUPPORTED;

	if (ia >= 0) {
		/* Up from the device to the common bridge, then down to the NIC. */
		n = path_text(&a, 0, ia, route, sizeof(route));
		if (ib && n < sizeof(route))
			n += snprintf(route + n, sizeof(route) - n, " < ");
		if (ib && n < sizeof(route))
			n += path_text(&b, ib - 1, 0, route + n, sizeof(route) - n);
		if (n < sizeof(route))
			snprintf(route + n, sizeof(route) - n,
				 ": common upstream bridge %s, distance %d", a.dev[ia], ia + ib);
	} else {
		snprintf(route, sizeof(route), "no common upstream bridge (%s under %s, %s under %s)",
			 pci, a.host, nic, b.host);
	}
	row = doctor_add(d, "path", subject,
			 map == DOCTOR_MAP_NOT_SUPPORTED ? DOCTOR_FAIL :
			 (unknown || acs_cnt) ? DOCTOR_WARN : DOCTOR_OK,
			 "%s; %s%s%s%s; map type: %s", route,
			 acs_cnt ? "ACS redirect on " : (ia >= 0 ? (unknown ? "ACS unknown (config space past 64 bytes needs root)" : "no ACS redirect") : "through the host bridge"),
			 acs_list,
			 map == DOCTOR_MAP_BUS_ADDR ? "" : (allowed ? "; allowed: " : "; not allowed: "),
			 map == DOCTOR_MAP_BUS_ADDR ? "" :
			 (why_a[0] ? why_a : cpu),
			 map == DOCTOR_MAP_BUS_ADDR ? "bus address (PCI_P2PDMA_MAP_BUS_ADDR)" :
			 map == DOCTOR_MAP_THRU_HOST_BRIDGE ? "through the host bridge (PCI_P2PDMA_MAP_THRU_HOST_BRIDGE)" :
			 "not supported (PCI_P2PDMA_MAP_NOT_SUPPORTED)");
	if (map == DOCTOR_MAP_BUS_ADDR && !unknown)
		return;
	if (map == DOCTOR_MAP_NOT_SUPPORTED)
		doctor_fix(row,
			   "the kernel allows P2P through the host bridge only on AMD Zen (family 17h) or later CPUs or whitelisted Intel host bridges (here: %s; %s%s%s): put the NIC and the device below one PCIe switch%s%s",
			   cpu, why_a, why_b[0] ? "; " : "", why_b,
			   acs_cnt ? ", and let them talk there: boot with pci=disable_acs_redir=" : "",
			   acs_list);
	else if (acs_cnt)
		doctor_fix(row,
			   "for bus addresses within the switch, boot with pci=disable_acs_redir=%s",
			   acs_list);
	else if (unknown)
		doctor_fix(row, "run the doctor as root to read the ACS bits");
}
