// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Recovery-point manifests: JSON documents (docs/vault-format.md) parsed
 * with jansson and checked field by field before anything trusts them, so a
 * damaged or hostile manifest yields SP_E_MANIFEST_CORRUPT, never a path
 * outside the point's directory or an out-of-range size.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/text.h"
#include "vault/vault.h"

#define MANIFEST_MAX (16u << 20)

static int bad(struct sp_error *err, const char *where, const char *what)
{
	return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
			    "manifest of point '%s' is damaged: %s", where,
			    what);
}

static bool is_hex64(json_t *v)
{
	uint8_t tmp[32];

	return json_is_string(v) && strlen(json_string_value(v)) == 64 &&
	       sp_hex_decode(json_string_value(v), tmp, 32);
}

static bool is_count(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

bool sp_disk_name_is_valid(const char *name, size_t len)
{
	if (len == 0 || strlen(name) != len || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* no path, and nothing that rewrites a terminal or a log
		 * line when the name is printed */
		if (c == '/' || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

void sp_disk_name_quote(const char *name, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *name && o + 5 < outlen; name++) {
		unsigned char c = (unsigned char)*name;
		if (c < 0x20 || c == 0x7f || c == '\\')
			o +=
			    (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* "state": the NVRAM and TPM state files stored beside the indexes.  A
 * stored entry's file is state-<n> (n its position), and its name is one
 * restore can write: the point's only NVRAM, or a TPM file of its own name
 * (no '/', not hidden). */
static int check_state(json_t *m, const char *where, struct sp_error *err)
{
	json_t *state = json_object_get(m, "state"), *it, *o;
	size_t i, k, nvrams = 0;

	o = json_object_get(m, "firmware");
	if (o && !json_is_null(o) && !json_is_object(o))
		return bad(err, where, "invalid 'firmware'");
	if (!state || json_is_null(state))
		return 0;
	if (!json_is_array(state))
		return bad(err, where, "invalid 'state'");
	json_array_foreach(state, i, it)
	{
		json_t *file = json_object_get(it, "file"), *name;
		const char *kind, *n;
		char expect[32];

		if (!json_is_object(it) ||
		    !json_is_string(json_object_get(it, "kind")))
			return bad(err, where, "a state entry is incomplete");
		if (!file || json_is_null(file))
			continue;
		kind = json_string_value(json_object_get(it, "kind"));
		name = json_object_get(it, "name");
		n = json_string_value(name);
		snprintf(expect, sizeof(expect), "state-%zu", i);
		if (!json_is_string(file) ||
		    strcmp(json_string_value(file), expect) != 0)
			return bad(err, where,
				   "a state entry's 'file' is "
				   "invalid");
		if (!is_count(json_object_get(it, "size")) ||
		    !is_hex64(json_object_get(it, "sha256")) || !n ||
		    !sp_disk_name_is_valid(n, json_string_length(name)) ||
		    (!strcmp(kind, "tpm") && !sp_name_is_valid(n)))
			return bad(err, where,
				   "a stored state entry is "
				   "incomplete or misnamed");
		if (!strcmp(kind, "nvram") && ++nvrams > 1)
			return bad(err, where, "two NVRAM stores are stored");
		for (k = 0; k < i; k++) {
			o = json_array_get(state, k);
			if (json_is_string(json_object_get(o, "file")) &&
			    !strcmp(kind, json_string_value(
					      json_object_get(o, "kind"))) &&
			    !strcmp(n, json_string_value(
					   json_object_get(o, "name"))))
				return bad(err, where,
					   "two state files have the same "
					   "'name'");
		}
	}
	return 0;
}

int sp_manifest_check(json_t *m, const char *where, struct sp_error *err)
{
	json_t *disks, *d, *cfg;
	size_t i;
	int64_t chunk_size;

	if (!json_is_object(m))
		return bad(err, where, "not a JSON object");
	if (!json_is_string(json_object_get(m, "format")) ||
	    strcmp(json_string_value(json_object_get(m, "format")),
		   "stillpoint-point") != 0)
		return bad(err, where, "wrong 'format'");
	if (json_integer_value(json_object_get(m, "version")) != 1)
		return bad(err, where, "unsupported 'version'");
	if (!json_is_string(json_object_get(m, "name")) ||
	    !sp_name_is_valid(json_string_value(json_object_get(m, "name"))))
		return bad(err, where, "invalid 'name'");
	if (!json_is_string(json_object_get(m, "id")) ||
	    !sp_name_is_valid(json_string_value(json_object_get(m, "id"))))
		return bad(err, where, "invalid 'id'");
	if (!json_is_string(json_object_get(m, "time")) ||
	    !json_is_string(json_object_get(m, "consistency")))
		return bad(err, where, "missing 'time' or 'consistency'");
	chunk_size = json_integer_value(json_object_get(m, "chunk_size"));
	if (chunk_size < 4096 || chunk_size > SP_CHUNK_MAX_SIZE)
		return bad(err, where, "invalid 'chunk_size'");
	disks = json_object_get(m, "disks");
	if (!json_is_array(disks) || json_array_size(disks) == 0)
		return bad(err, where, "no 'disks'");
	json_array_foreach(disks, i, d)
	{
		const char *ix, *dn;
		char expect[32];
		json_t *other;
		size_t k;

		if (!json_is_object(d) ||
		    !json_is_string(json_object_get(d, "name")) ||
		    !is_count(json_object_get(d, "size")) ||
		    !json_is_string(json_object_get(d, "format")) ||
		    !is_hex64(json_object_get(d, "index_sha256")))
			return bad(err, where, "a disk entry is incomplete");
		ix = json_string_value(json_object_get(d, "index"));
		snprintf(expect, sizeof(expect), "disk-%zu.idx", i);
		if (!ix || strcmp(ix, expect) != 0)
			return bad(err, where, "a disk's 'index' is invalid");
		dn = json_string_value(json_object_get(d, "name"));
		if (!sp_disk_name_is_valid(
			dn, json_string_length(json_object_get(d, "name"))))
			return bad(err, where, "a disk's 'name' is invalid");
		/* restore writes each disk under its name: a second disk of
		 * the same name would silently replace the first */
		for (k = 0; k < i; k++) {
			other = json_array_get(disks, k);
			if (!strcmp(dn, json_string_value(
					    json_object_get(other, "name"))))
				return bad(err, where,
					   "two disks have the same 'name'");
		}
	}
	cfg = json_object_get(m, "config");
	if (cfg && !json_is_null(cfg) &&
	    (!json_is_object(cfg) || !is_hex64(json_object_get(cfg, "sha256"))))
		return bad(err, where, "invalid 'config'");
	return check_state(m, where, err);
}

int sp_manifest_load_point(int point_dirfd, const char *name, const char *id,
			   json_t **ret, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char where[140];
	size_t len;
	int r;

	snprintf(where, sizeof(where), "%.64s@%.64s", name, id);
	r = sp_file_read(point_dirfd, "manifest.json", MANIFEST_MAX, &text,
			 &len);
	if (r == -ENOENT)
		return bad(err, where, "manifest.json is missing");
	if (r == -SP_ENOTREG)
		return bad(err, where, "manifest.json is not a regular file");
	if (r < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot read manifest of point '%s'",
					  where);
	return sp_manifest_parse_point(text, len, name, id, ret, err);
}

int sp_manifest_parse_point(const char *text, size_t len, const char *name,
			    const char *id, json_t **ret, struct sp_error *err)
{
	json_error_t jerr;
	json_t *m;
	char where[140];
	int r;

	snprintf(where, sizeof(where), "%.64s@%.64s", name, id);
	m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!m)
		return bad(err, where, jerr.text);
	r = sp_manifest_check(m, where, err);
	/* A manifest copied into another point's directory is damage, not
	 * that point: it would be listed, verified and restored as such. */
	if (r == 0 &&
	    (strcmp(json_string_value(json_object_get(m, "name")), name) ||
	     strcmp(json_string_value(json_object_get(m, "id")), id)))
		r = bad(err, where,
			"it describes another point (its 'name' or 'id' is not "
			"its directory's)");
	if (r < 0) {
		json_decref(m);
		return r;
	}
	*ret = m;
	return 0;
}
