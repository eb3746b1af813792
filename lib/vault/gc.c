// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Garbage collection by fossils, safe while backups run (invariants in
 * gc.h; the format in docs/vault-format.md).  One run:
 *
 *   G1. take gc.lock (one gc at a time) and read gc.json
 *   G2. the last run's fossils may be swept when its state is "fossils"
 *       and every draft it recorded is gone (finished, or dead: its lock is
 *       free).  Otherwise, if drafts it recorded still run: wait (purge
 *       only, and stop here)
 *   G3. under the exclusive trash lock: purge expired trash, then mark:
 *       read every draft's indexes (as far as written), every published
 *       and every trashed point's indexes.  A point that cannot be read
 *       stops gc (nothing is collected: GcUnsafe)
 *   G4. gc.json removed (a crash from here on leaves no sweepable state:
 *       the next run re-marks).  Removing needs no space, so gc starts on
 *       a full vault; G6's write may use the vault's reserve.
 *   G5. walk chunks/, one prefix directory at a time, acting on a listing
 *       taken before acting (so a fossil made in this walk is never swept
 *       in it): a referenced fossil is resurrected; an unreferenced one is
 *       deleted when G2 allowed it, kept otherwise; an unreferenced chunk
 *       older than the run's start becomes a fossil.  Each changed
 *       directory is fsynced.
 *   G6. gc.json := "fossils", with the drafts that exist now (after every
 *       rename of G5: a draft that relied on a chunk before it became a
 *       fossil is among them, or is published and seen by the next mark)
 *
 * Why a fossil is never lost while needed: a writer that relies on a chunk
 * calls sp_chunk_store_has(), which resurrects a fossil atomically (gc.h
 * invariant 3).  A draft that relied on it before it was fossilized is
 * recorded in G6 and must be gone before the sweep, and its point, if
 * published, is read by the sweep's own mark.
 */
#include "vault/gc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/gc_objects.h"
#include <stillpoint/stillpoint.h>

#define PREFIXES 4096
#define STATE_MAX (4u << 20)
#define READ_IDS 2048 /* ids per read of an index */

struct gc {
	struct sp_vault *v;
	const struct sp_gc_opts *o;
	struct sp_id_set refs;
	time_t start;
	bool sweep;
	uint64_t chunks, referenced, young, fossilized, resurrected, deleted;
	uint64_t kept, bytes_freed, bytes_fossilized;
};

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

/* ---- the set of referenced ids ------------------------------------------ */

static size_t slot_of(const struct sp_id_set *s, const struct sp_chunk_id *id)
{
	uint64_t h;
	size_t i;

	memcpy(&h, id->bytes, sizeof(h)); /* ids are uniform already */
	i = h & (s->cap - 1);
	while (s->used[i] &&
	       memcmp(s->ids[i].bytes, id->bytes, SP_CHUNK_ID_LEN) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

int sp_id_set_add(struct sp_id_set *s, const struct sp_chunk_id *id)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap) {
		struct sp_id_set n = {.cap = s->cap ? s->cap * 2 : 4096};
		n.ids = malloc(n.cap * sizeof(*n.ids));
		n.used = calloc(n.cap, 1);
		if (!n.ids || !n.used) {
			free(n.ids);
			free(n.used);
			return -ENOMEM;
		}
		for (size_t k = 0; k < s->cap; k++)
			if (s->used[k]) {
				i = slot_of(&n, &s->ids[k]);
				n.ids[i] = s->ids[k];
				n.used[i] = 1;
				n.count++;
			}
		sp_id_set_release(s);
		*s = n;
	}
	i = slot_of(s, id);
	if (!s->used[i]) {
		s->ids[i] = *id;
		s->used[i] = 1;
		s->count++;
	}
	return 0;
}

bool sp_id_set_has(const struct sp_id_set *s, const struct sp_chunk_id *id)
{
	return s->cap && s->used[slot_of(s, id)];
}

void sp_id_set_release(struct sp_id_set *s)
{
	free(s->ids);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

/* ---- mark ---------------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Add every non-zero id that index @name of a draft holds so far: the
 * draft is being written, so a short or headerless file is no error.
 * (Drafts are protected by gc.json's list, G6, not by this read: it only
 * spares their chunks a needless fossilization.) */
static int mark_draft_index(int dirfd, const char *name, struct sp_id_set *set,
			    struct sp_error *err)
{
	sp_autoclose int fd = -1;
	sp_autofree struct sp_chunk_id *ids = NULL;
	uint8_t hdr[SP_INDEX_HEADER_LEN];
	uint64_t count, avail;
	struct stat st;

	fd =
	    openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)sizeof(hdr) ||
	    sp_pread_all(fd, hdr, sizeof(hdr), 0) < 0 ||
	    memcmp(hdr, "SPIX", 4) != 0 || get_le(hdr + 4, 4) != 1 ||
	    get_le(hdr + 20, 4) != SP_CHUNK_ID_LEN)
		return 0;
	count = get_le(hdr + 24, 8);
	avail = ((uint64_t)st.st_size - sizeof(hdr)) / SP_CHUNK_ID_LEN;
	if (count > avail)
		count = avail;
	ids = malloc(READ_IDS * sizeof(*ids));
	if (!ids)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (uint64_t at = 0; at < count;) {
		size_t n =
		    count - at < READ_IDS ? (size_t)(count - at) : READ_IDS;
		if (sp_pread_all(fd, ids, n * sizeof(*ids),
				 (off_t)(sizeof(hdr) + at * SP_CHUNK_ID_LEN)) <
		    0)
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!sp_chunk_id_is_zero(&ids[i]) &&
			    sp_id_set_add(set, &ids[i]) < 0)
				return sp_error_set(err, SP_E_NOMEM,
						    "out of memory");
		at += n;
	}
	return 0;
}

/*
 * The mark is the one place where a read that fails could cost data: an id
 * it misses is a chunk gc deletes.  So every failure to open, list or
 * validate a published or trashed point stops the run before anything is
 * fossilized or deleted (GcUnsafe), whatever its cause: EMFILE and EACCES
 * as much as a damaged index.
 */
static int unsafe(struct sp_error *err, const char *what, const char *why)
{
	return sp_error_set(err, SP_E_GC_UNSAFE,
			    "gc cannot read %s: %s; nothing was collected "
			    "(repair or move the point away, see 'stillpoint "
			    "verify', then run gc again)",
			    what, why);
}

/* Open directory @name in @dirfd as a directory stream, symlinks not
 * followed.  Returns 0 or -errno. */
static int open_dir(int dirfd, const char *name, DIR **ret)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	*ret = d;
	return 0;
}

/* The next entry of @d other than "." and "..", or NULL at the end (*@r =
 * 0) or on a read error (*@r = -errno): an error must not read as the end
 * of the listing. */
static struct dirent *next_entry(DIR *d, int *r)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			*r = errno ? -errno : 0;
			return NULL;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return de;
	}
}

/* Every index of point @name@@id in @ndir (points/NAME or trash/NAME),
 * validated as restore validates it before one id is trusted: header,
 * exact length, checksum, the manifest's index_sha256, disk size and
 * digest. */
static int mark_point(struct gc *g, int ndir, const char *name, const char *id,
		      bool trash, struct sp_error *err)
{
	sp_autoclose int pfd = -1;
	char spec[140], where[160];
	struct sp_error e;
	json_t *m = NULL, *d;
	size_t i;
	int r = 0;

	snprintf(spec, sizeof(spec), "%.64s@%.64s", name, id);
	snprintf(where, sizeof(where), "%spoint '%s'", trash ? "trashed " : "",
		 spec);
	pfd = openat(ndir, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return unsafe(err, where, strerror(errno));
	if (sp_vault_manifest_load_dir(g->v, pfd, name, id, &m, &e) < 0)
		return e.code == SP_E_NOMEM
			   ? sp_error_set(err, SP_E_NOMEM, "out of memory")
			   : unsafe(err, where, e.msg);
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		struct sp_disk_index *ix = NULL;
		uint64_t count;
		uint8_t sha[32];
		char what[300];

		sp_hex_decode(
		    json_string_value(json_object_get(d, "index_sha256")), sha,
		    32);
		r = sp_vault_index_open_dir(
		    g->v, pfd, name, id,
		    json_string_value(json_object_get(d, "index")), sha, &ix,
		    &e);
		if (r < 0) {
			r = unsafe(err, where, e.msg);
			break;
		}
		if (sp_disk_index_disk_size(ix) !=
		    (uint64_t)json_integer_value(json_object_get(d, "size"))) {
			sp_disk_index_free(ix);
			r = unsafe(err, where,
				   "an index and the manifest disagree on "
				   "the disk's size");
			break;
		}
		snprintf(what, sizeof(what), "disk '%s'",
			 json_string_value(json_object_get(d, "name")));
		r = sp_disk_index_check_digest(
		    ix, json_string_value(json_object_get(d, "digest")), what,
		    &e);
		if (r < 0) {
			sp_disk_index_free(ix);
			r = e.code == SP_E_NOMEM
				? sp_error_set(err, SP_E_NOMEM, "out of memory")
				: unsafe(err, where, e.msg);
			break;
		}
		count = sp_disk_index_count(ix);
		for (uint64_t s = 0; r == 0 && s < count; s++) {
			const struct sp_chunk_id *cid =
			    sp_disk_index_get(ix, s);
			if (s % 65536 == 65535)
				sp_disk_index_forget(ix, s);
			if (!sp_chunk_id_is_zero(cid) &&
			    sp_id_set_add(&g->refs, cid) < 0)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
		}
		sp_disk_index_free(ix);
		if (r < 0)
			break;
	}
	json_decref(m);
	return r;
}

/* The points of VM @name under @top ("points" or "trash"). */
static int mark_name(struct gc *g, int tfd, const char *top, const char *name,
		     int64_t expired_at, struct sp_error *err)
{
	const bool trash = strcmp(top, "points") != 0;
	char where[200];
	struct dirent *pe;
	DIR *nd = NULL;
	int r, q = 0;

	snprintf(where, sizeof(where), "'%s/%.64s'", top, name);
	r = open_dir(tfd, name, &nd);
	if (r < 0)
		return unsafe(err, where, strerror(-r));
	while (r == 0 && (pe = next_entry(nd, &q))) {
		if (!sp_name_is_valid(pe->d_name))
			continue; /* never a point: nothing reads it */
		if (expired_at &&
		    sp_trash_is_expired(g->v, name, pe->d_name, expired_at))
			continue;
		r = mark_point(g, dirfd(nd), name, pe->d_name, trash, err);
	}
	closedir(nd);
	if (r == 0 && q < 0) {
		snprintf(where, sizeof(where), "'%s/%.64s'", top, name);
		r = unsafe(err, where, strerror(-q));
	}
	return r;
}

/* Every point under @top ("points" or "trash"); with @expired_at set, the
 * trash entries expired then are skipped (a dry run's purge). */
static int mark_tree(struct gc *g, const char *top, int64_t expired_at,
		     struct sp_error *err)
{
	char where[32];
	struct dirent *de;
	DIR *d = NULL;
	int r, q = 0;

	snprintf(where, sizeof(where), "'%s'", top);
	r = open_dir(g->v->fd, top, &d);
	if (r == -ENOENT && strcmp(top, "points") != 0)
		return 0; /* no point was ever deleted */
	if (r < 0)
		return unsafe(err, where, strerror(-r));
	while (r == 0 && (de = next_entry(d, &q)))
		if (sp_name_is_valid(de->d_name))
			r = mark_name(g, dirfd(d), top, de->d_name, expired_at,
				      err);
	closedir(d);
	if (r == 0 && q < 0)
		r = unsafe(err, where, strerror(-q));
	return r;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* The drafts in tmp/: read what their indexes hold so far. */
static int mark_drafts(struct gc *g, struct sp_error *err)
{
	struct dirent *de;
	DIR *d = NULL;
	int r, q = 0;

	r = open_dir(g->v->fd, "tmp", &d);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot open 'tmp'");
	while (r == 0 && (de = next_entry(d, &q))) {
		struct dirent *fe;
		DIR *dd = NULL;
		int q2 = 0;

		if (de->d_name[0] == '.' || has_suffix(de->d_name, ".lock"))
			continue;
		/* Gone already (published: the points/ scan sees it). */
		if (open_dir(dirfd(d), de->d_name, &dd) < 0)
			continue;
		while (r == 0 && (fe = next_entry(dd, &q2)))
			if (!strncmp(fe->d_name, "disk-", 5) &&
			    has_suffix(fe->d_name, ".idx"))
				r = mark_draft_index(dirfd(dd), fe->d_name,
						     &g->refs, err);
		closedir(dd);
	}
	closedir(d);
	if (r == 0 && q < 0)
		r = sp_error_set_errno(err, vault_code(-q), -q,
				       "cannot list 'tmp'");
	return r;
}

/* ---- state --------------------------------------------------------------- */

static json_t *load_state(struct sp_vault *v)
{
	sp_autofree char *text = NULL;
	size_t len;

	if (sp_file_read(v->fd, SP_GC_STATE, STATE_MAX, &text, &len) < 0 ||
	    sp_vault_record_open(v, SP_GC_STATE, text, len, &len) < 0)
		return NULL;
	return json_loadb(text, len, 0, NULL);
}

static int write_state(struct sp_vault *v, const char *state, uint64_t fossils,
		       json_t *drafts, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	sp_autofree void *sealed = NULL;
	char since[32];
	size_t len = 0;
	time_t now = time(NULL);
	json_t *doc;
	int r;

	sp_time_rfc3339(now, since, sizeof(since));
	doc = json_pack("{s:i, s:s, s:s, s:I, s:I, s:O}", "version", 1, "state",
			state, "fossils_since", since, "fossils_since_unix",
			(json_int_t)now, "fossils", (json_int_t)fossils,
			"drafts", drafts);
	text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* Sealed in an encrypted vault: its drafts name VMs. */
	r = sp_vault_record_seal(v, SP_GC_STATE, text, &sealed, &len, err);
	if (r < 0)
		return r;
	r = sp_file_publish(v->fd, SP_GC_STATE, sealed, len, err);
	if (r == SP_E_VAULT_FULL && sp_vault_reserve_release(v))
		r = sp_file_publish(v->fd, SP_GC_STATE, sealed, len, err);
	return r;
}

/* No sweepable state: what a run killed from here on leaves behind. */
static int drop_state(struct sp_vault *v, struct sp_error *err)
{
	if (unlinkat(v->fd, SP_GC_STATE, 0) < 0 && errno != ENOENT)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot remove '%s/" SP_GC_STATE "'",
					  v->path);
	if (fsync(v->fd) < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot sync '%s'", v->path);
	return 0;
}

/* Names of the drafts in tmp/ now (their lock files) into *@ret.  A
 * listing that fails is an error: a draft missing from gc.json would let
 * the next run sweep a fossil that draft relies on. */
static int list_drafts(struct sp_vault *v, json_t **ret, struct sp_error *err)
{
	json_t *arr = json_array();
	struct dirent *de;
	DIR *d = NULL;
	int r, q = 0;

	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = open_dir(v->fd, "tmp", &d);
	if (r == -ENOENT) {
		*ret = arr;
		return 0;
	}
	if (r < 0) {
		json_decref(arr);
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot list the drafts in 'tmp'");
	}
	while ((de = next_entry(d, &q))) {
		size_t n = strlen(de->d_name);
		if (n > 5 && has_suffix(de->d_name, ".lock"))
			json_array_append_new(arr,
					      json_stringn(de->d_name, n - 5));
	}
	closedir(d);
	if (q < 0) {
		json_decref(arr);
		return sp_error_set_errno(err, vault_code(-q), -q,
					  "cannot list the drafts in 'tmp'");
	}
	*ret = arr;
	return 0;
}

/* The recorded drafts that still run, or might: a draft counts as over
 * only when its lock file is gone or its lock can be taken (its process is
 * dead); any other failure to tell keeps it waited for. */
static json_t *drafts_alive(struct sp_vault *v, json_t *recorded)
{
	json_t *alive = json_array(), *val;
	size_t i;

	json_array_foreach(recorded, i, val)
	{
		char rel[128];
		sp_autoclose int fd = -1;
		const char *name = json_string_value(val);

		if (!name || !sp_name_is_valid(name))
			continue;
		snprintf(rel, sizeof(rel), "tmp/%s.lock", name);
		fd = openat(v->fd, rel,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue; /* published or discarded */
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			json_array_append(alive, val);
		/* else dead (it can never publish); closing fd drops the
		 * lock we took */
	}
	return alive;
}

/* ---- the walk ------------------------------------------------------------ */

struct entry {
	char name[SP_CHUNK_FOSSIL_PATH_MAX];
};

static int act_on(struct gc *g, int dfd, const char *e, bool *changed,
		  struct sp_error *err)
{
	const bool dry = g->o->dry_run;
	const size_t fl = strlen(SP_CHUNK_FOSSIL_SUFFIX);
	size_t n = strlen(e);
	bool fossil = n == SP_CHUNK_ID_HEX_LEN + fl &&
		      has_suffix(e, SP_CHUNK_FOSSIL_SUFFIX);
	char hex[SP_CHUNK_ID_HEX_LEN + 1], to[SP_CHUNK_FOSSIL_PATH_MAX];
	struct sp_chunk_id id;
	struct stat st;

	if (n != SP_CHUNK_ID_HEX_LEN && !fossil)
		return 0; /* ".tmp-*" of a writer, or foreign */
	snprintf(hex, sizeof(hex), "%.*s", SP_CHUNK_ID_HEX_LEN, e);
	if (!sp_hex_decode(hex, id.bytes, SP_CHUNK_ID_LEN))
		return 0;
	if (fstatat(dfd, e, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* gone meanwhile (resurrected, or a fossil) */
	g->chunks++;
	if (sp_id_set_has(&g->refs, &id)) {
		g->referenced++;
		if (!fossil)
			return 0;
		g->resurrected++;
		if (dry)
			return 0;
		int q = sp_chunk_store_resurrect(g->v->chunks, &id);
		if (q < 0 && q != -ENOENT)
			return sp_error_set_errno(err, vault_code(-q), -q,
						  "cannot resurrect fossil "
						  "'%s'",
						  e);
		unlinkat(dfd, e, 0); /* left only when the chunk exists */
		*changed = true;
		return 0;
	}
	if (fossil && !g->sweep) {
		g->kept++;
		return 0;
	}
	if (fossil) {
		if (!dry) {
			sp_test_hold("gc");
			if (unlinkat(dfd, e, 0) < 0) {
				if (errno == ENOENT)
					return 0; /* a writer took it back */
				return sp_error_set_errno(
				    err, vault_code(errno), errno,
				    "cannot delete fossil '%s'", e);
			}
			*changed = true;
		}
		g->deleted++;
		g->bytes_freed += (uint64_t)st.st_size;
		return 0;
	}
	/* A second of margin for coarse file-system timestamps. */
	if (st.st_mtime >= g->start - 1) {
		g->young++;
		return 0;
	}
	if (!dry) {
		sp_test_hold("gc");
		snprintf(to, sizeof(to), "%s" SP_CHUNK_FOSSIL_SUFFIX, e);
		int q = renameat2(dfd, e, dfd, to, RENAME_NOREPLACE);
		/* a longer name may need a directory block */
		if (q < 0 && errno == ENOSPC && sp_vault_reserve_release(g->v))
			q = renameat2(dfd, e, dfd, to, RENAME_NOREPLACE);
		if (q < 0) {
			if (errno == ENOENT || errno == EEXIST)
				return 0;
			return sp_error_set_errno(err, vault_code(errno), errno,
						  "cannot fossilize chunk "
						  "'%s'",
						  e);
		}
		*changed = true;
	}
	g->fossilized++;
	g->bytes_fossilized += (uint64_t)st.st_size;
	return 0;
}

static int walk_prefix(struct gc *g, int cfd, unsigned p, struct sp_error *err)
{
	sp_autoclose int dfd = -1;
	sp_autofree struct entry *list = NULL;
	size_t n = 0, cap = 0;
	char name[4];
	bool changed = false;
	DIR *d;
	struct dirent *de;
	int r = 0;

	snprintf(name, sizeof(name), "%03x", p);
	dfd = openat(cfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT
			   ? 0
			   : sp_error_set_errno(err, vault_code(errno), errno,
						"cannot open 'chunks/%s'",
						name);
	d = fdopendir(dup(dfd));
	if (!d)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* The listing first, the actions after: a fossil this walk makes is
	 * never seen, and so never swept, by this walk. */
	while ((de = readdir(d))) {
		if (strlen(de->d_name) >= sizeof(list->name) ||
		    de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			void *np = realloc(list, cap * sizeof(*list));
			if (!np) {
				closedir(d);
				return sp_error_set(err, SP_E_NOMEM,
						    "out of memory");
			}
			list = np;
		}
		snprintf(list[n++].name, sizeof(list->name), "%s", de->d_name);
	}
	closedir(d);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = act_on(g, dfd, list[i].name, &changed, err);
	if (changed) {
		int q = sp_fsync_dirfd(dfd);
		if (q < 0 && r == 0)
			r = sp_error_set_errno(err, vault_code(-q), -q,
					       "cannot sync 'chunks/%s'", name);
	}
	return r;
}

static int walk(struct gc *g, struct sp_error *err)
{
	sp_autoclose int cfd = -1;
	int r = 0;

	cfd = openat(g->v->fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot open 'chunks'");
	for (unsigned p = 0; r == 0 && p < PREFIXES; p++) {
		if (g->o->job.cancel && *g->o->job.cancel)
			return sp_error_set(err, SP_E_INTERRUPTED,
					    "gc interrupted (nothing is "
					    "lost: the next gc starts over)");
		r = walk_prefix(g, cfd, p, err);
	}
	return r;
}

/* ---- the run ------------------------------------------------------------- */

static json_t *report_of(struct gc *g, json_t *purged, json_t *kept,
			 json_t *waiting, json_t *state)
{
	return json_pack(
	    "{s:b, s:O, s:O, s:b, s:O, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:O?}",
	    "dry_run", g->o->dry_run, "trash_purged", purged, "trash_kept",
	    kept, "swept", g->sweep, "waiting_for", waiting, "chunks",
	    (json_int_t)g->chunks, "referenced", (json_int_t)g->referenced,
	    "fossilized", (json_int_t)g->fossilized, "resurrected",
	    (json_int_t)g->resurrected, "deleted", (json_int_t)g->deleted,
	    "bytes_freed", (json_int_t)g->bytes_freed, "bytes_fossilized",
	    (json_int_t)g->bytes_fossilized, "fossils_pending",
	    (json_int_t)(g->fossilized + g->kept), "young",
	    (json_int_t)g->young, "state", state);
}

int sp_gc_run(struct sp_vault *v, const struct sp_gc_opts *o, json_t **report,
	      struct sp_error *err)
{
	sp_autoclose int gc_lock = -1;
	sp_autoclose int trash_lock = -1;
	struct gc g = {.v = v, .o = o};
	json_t *state = NULL, *alive = NULL, *drafts = NULL, *rep = NULL;
	json_t *purged = json_array(), *kept = json_array();
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	const char *st;
	int r;
	if (!sp_vault_is_local(v)) {
		json_decref(purged);
		json_decref(kept);
		return sp_gc_objects_run(v, o, report, err);
	}

	/* G1 */
	r = sp_vault_lock_open(v->fd, v->path, SP_GC_LOCK, LOCK_EX | LOCK_NB,
			       &gc_lock, err);
	if (r == -EWOULDBLOCK)
		r = sp_error_set(err, SP_E_GC_BUSY,
				 "another gc is running on vault '%s'",
				 v->path);
	if (r < 0)
		goto out;
	g.start = time(NULL);
	/* G2 */
	state = load_state(v);
	st = json_string_value(json_object_get(state, "state"));
	if (st && !strcmp(st, "fossils")) {
		alive = drafts_alive(v, json_object_get(state, "drafts"));
		g.sweep = json_array_size(alive) == 0;
	} else {
		alive = json_array();
	}
	/* G3 */
	r = sp_vault_lock_open(v->fd, v->path, SP_TRASH_LOCK, LOCK_EX,
			       &trash_lock, err);
	if (r < 0)
		goto out;
	r = sp_trash_purge_locked(v, now, o->dry_run, purged, kept, err);
	if (r < 0)
		goto out;
	if (json_array_size(alive) > 0) {
		sp_log(SP_LOG_INFO,
		       "gc waits for %zu backup(s) that ran when its fossils "
		       "were made",
		       json_array_size(alive));
		goto report;
	}
	r = mark_drafts(&g, err);
	if (r == 0)
		r = mark_tree(&g, "points", 0, err);
	if (r == 0)
		r = mark_tree(&g, SP_TRASH_DIR, o->dry_run ? now : 0, err);
	close(trash_lock);
	trash_lock = -1;
	if (r < 0)
		goto out;
	/* G4, G5 */
	if (!o->dry_run) {
		r = drop_state(v, err);
		if (r < 0)
			goto out;
	}
	r = walk(&g, err);
	if (r < 0)
		goto out;
	/* G6 */
	if (!o->dry_run) {
		if (g.fossilized + g.kept)
			r = list_drafts(v, &drafts, err);
		else if (!(drafts = json_array()))
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		if (r < 0)
			goto out;
		r = write_state(v, "fossils", g.fossilized + g.kept, drafts,
				err);
		if (r < 0)
			goto out;
		json_decref(state);
		state = load_state(v);
	}
	if (g.deleted > 0 && !o->dry_run)
		sp_vault_reserve_make(v->fd); /* room again: set it aside */
	sp_log(SP_LOG_INFO,
	       "gc done chunks=%llu referenced=%llu fossilized=%llu "
	       "resurrected=%llu deleted=%llu bytes_freed=%llu",
	       (unsigned long long)g.chunks, (unsigned long long)g.referenced,
	       (unsigned long long)g.fossilized,
	       (unsigned long long)g.resurrected, (unsigned long long)g.deleted,
	       (unsigned long long)g.bytes_freed);
report:
	if (r == 0) {
		rep = report_of(&g, purged, kept, alive, state);
		if (!rep)
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		else if (report)
			*report = rep;
		else
			json_decref(rep);
	}
out:
	sp_id_set_release(&g.refs);
	json_decref(state);
	json_decref(alive);
	json_decref(drafts);
	json_decref(purged);
	json_decref(kept);
	return r;
}
