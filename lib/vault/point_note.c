// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Notes beside a published point: small JSON records that say something
 * about the point after it was made (verified.json: it was booted and its
 * application answered), kept as points/NAME/ID/FILE next to its files.
 *
 * Invariant: a note never changes the point itself.  The manifest and the
 * files it names are never written here; a note's name is refused when it
 * is one of them, and a note of a point that is not published is refused.
 * An encrypted vault's store seals the note like every object of a point,
 * with its key as associated data, so a note cannot be moved to another
 * point unnoticed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/text.h"
#include "vault/store.h"
#include "vault/vault.h"

#define NOTE_MAX (64u << 10)

/* Is @file a note's name, i.e. no file a point is made of? */
static bool note_name_ok(const char *file)
{
	size_t len = strlen(file);

	return sp_name_is_valid(file) && len > 5 &&
	       !strcmp(file + len - 5, ".json") &&
	       strcmp(file, "manifest.json") != 0;
}

static int note_key(const char *name, const char *id, const char *file,
		    char *key, size_t cap, struct sp_error *err)
{
	if (!sp_name_is_valid(name) || !sp_name_is_valid(id) ||
	    !note_name_ok(file))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid note '%s' of point '%s@%s'", file,
				    name, id);
	snprintf(key, cap, "points/%s/%s/%s", name, id, file);
	return 0;
}

int sp_vault_point_note_put(struct sp_vault *v, const char *name,
			    const char *id, const char *file, json_t *doc,
			    struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char key[256];
	int r;

	r = note_key(name, id, file, key, sizeof(key), err);
	if (r < 0)
		return r;
	if (!sp_vault_point_exists(v, name, id))
		return sp_error_set(err, SP_E_POINT_NOT_FOUND,
				    "no point '%s@%s' in vault '%s' to note "
				    "'%s' beside (was it deleted meanwhile?)",
				    name, id, v->path, file);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = v->store->ops->put(v->store, key, text, strlen(text), 0, err);
	if (r == 0)
		r = v->store->ops->sync ? v->store->ops->sync(v->store, err)
					: 0;
	return sp_vault_store_error(v, r, "write", key, err);
}

int sp_vault_point_note_get(struct sp_vault *v, const char *name,
			    const char *id, const char *file, json_t **doc,
			    struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char key[256];
	size_t len = 0;
	int r;

	*doc = NULL;
	r = note_key(name, id, file, key, sizeof(key), err);
	if (r < 0)
		return r;
	r = v->store->ops->get(v->store, key, NOTE_MAX, (void **)&text, &len,
			       err);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "'%s' in vault '%s' does not open with the "
				    "vault's key (damaged)",
				    key, v->path);
	if (r < 0)
		return sp_vault_store_error(v, r, "read", key, err);
	*doc = json_loadb(text, len, 0, NULL);
	if (!json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "'%s' in vault '%s' is not a JSON object",
				    key, v->path);
	}
	return 0;
}
