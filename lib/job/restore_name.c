// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The names of restored disks under --to DIR (the rule is in
 * restore_name.h).  Pure: it reads the manifest's disks and nothing else,
 * so the same point always restores under the same names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job/restore_name.h"
#include "util/error.h"

/* Extensions that name a disk image's format, never part of its name. */
static const char *const image_ext[] = {
    "raw", "img",  "qcow2", "qcow", "dsk",  "bin",
    "iso", "vmdk", "vdi",   "vhd",  "vhdx",
};

enum sp_disk_format sp_restore_format(json_t *disk, const char *override)
{
	const char *f =
	    override ? override
		     : json_string_value(json_object_get(disk, "format"));

	return f && sp_disk_format_parse(f) == SP_DISK_FORMAT_QCOW2
		   ? SP_DISK_FORMAT_QCOW2
		   : SP_DISK_FORMAT_RAW;
}

/* The length of @name without an image extension. */
static size_t stem_len(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot || dot == name)
		return strlen(name);
	for (size_t i = 0; i < sizeof(image_ext) / sizeof(*image_ext); i++)
		if (!strcasecmp(dot + 1, image_ext[i]))
			return (size_t)(dot - name);
	return strlen(name);
}

static bool taken(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static char *name_for(json_t *d, const char *override, char **before, size_t n)
{
	const char *target = json_string_value(json_object_get(d, "target"));
	const char *base =
	    target ? target : json_string_value(json_object_get(d, "name"));
	const char *ext = sp_restore_format(d, override) == SP_DISK_FORMAT_QCOW2
			      ? "qcow2"
			      : "raw";
	int len = (int)(target ? strlen(base) : stem_len(base));
	char *name = NULL;

	if (asprintf(&name, "%.*s.%s", len, base, ext) < 0)
		return NULL;
	for (unsigned k = 2; taken(before, n, name); k++) {
		free(name);
		if (asprintf(&name, "%.*s-%u.%s", len, base, k, ext) < 0)
			return NULL;
	}
	return name;
}

int sp_restore_names(json_t *disks, const char *override, char ***names)
{
	size_t n = json_array_size(disks), i;
	char **p = calloc(n ? n : 1, sizeof(*p));
	json_t *d;

	*names = NULL;
	if (!p)
		return SP_E_NOMEM;
	json_array_foreach(disks, i, d)
	{
		p[i] = name_for(d, override, p, i);
		if (!p[i]) {
			sp_restore_names_free(p, i);
			return SP_E_NOMEM;
		}
	}
	*names = p;
	return 0;
}

void sp_restore_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}
