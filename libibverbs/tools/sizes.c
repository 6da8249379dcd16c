// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Parsing and printing sizes for the p2pmr tool. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sizes.h"

#define RANGE_STEP 4

static int unit_shift(const char *suffix)
{
	static const char units[] = "KMGT";
	const char *unit;

	if (!*suffix)
		return 0;
	unit = memchr(units, toupper((unsigned char)suffix[0]), sizeof(units) - 1);
	if (!unit)
		return -1;
	suffix++;
	if (!*suffix || !strcasecmp(suffix, "B") || !strcasecmp(suffix, "iB"))
		return 10 * (unit - units + 1);
	return -1;
}

int parse_size(const char *text, uint64_t *sizep)
{
	unsigned long long v;
	char *end;
	int shift;

	if (!text || !*text || *text == '-')
		return EINVAL;
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text)
		return EINVAL;
	shift = unit_shift(end);
	if (shift < 0 || (shift && v > (UINT64_MAX >> shift)))
		return EINVAL;
	*sizep = (uint64_t)v << shift;
	return 0;
}

static int size_list_add(struct size_list *list, uint64_t v)
{
	unsigned int i, j;

	for (i = 0; i < list->nr && list->size[i] < v; i++)
		;
	if (i < list->nr && list->size[i] == v)
		return 0;
	if (list->nr == SIZE_LIST_MAX)
		return E2BIG;
	for (j = list->nr; j > i; j--)
		list->size[j] = list->size[j - 1];
	list->size[i] = v;
	list->nr++;
	return 0;
}

static int parse_item(char *item, struct size_list *list)
{
	char *dash = strchr(item, '-');
	uint64_t lo, hi, v;
	int ret;

	if (!dash) {
		ret = parse_size(item, &v);
		return ret ? ret : size_list_add(list, v);
	}
	*dash = '\0';
	if (parse_size(item, &lo) || parse_size(dash + 1, &hi) || !lo || lo > hi)
		return EINVAL;
	for (v = lo; v < hi; v *= RANGE_STEP) {
		ret = size_list_add(list, v);
		if (ret)
			return ret;
		if (v > UINT64_MAX / RANGE_STEP)
			break;
	}
	return size_list_add(list, hi);
}

int parse_size_list(const char *text, struct size_list *list)
{
	char *copy, *item, *save = NULL;
	int ret = 0;

	list->nr = 0;
	copy = strdup(text);
	if (!copy)
		return ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save))
		ret = parse_item(item, list);
	free(copy);
	if (!ret && !list->nr)
		ret = EINVAL;
	return ret;
}

uint64_t size_list_max(const struct size_list *list)
{
	return list->nr ? list->size[list->nr - 1] : 0;
}

const char *format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int i = -1;

	while (v && !(v & 1023) && i < 3) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, units[i]);
	return buf;
}

int size_opt(const char *cmd, const char *name, const char *arg, uint64_t min, uint64_t max,
	     uint64_t *v)
{
	if (!parse_size(arg, v) && *v >= min && *v <= max)
		return 0;
	fprintf(stderr, "%s: bad %s '%s' (see %s --help)\n", cmd, name, arg, cmd);
	return 2;
}
