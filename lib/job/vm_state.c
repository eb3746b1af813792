// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NVRAM and TPM state of a libvirt domain: read at backup, stored beside
 * the point's indexes, checked by verify, put back by restore.  The rules
 * are at the top of vm_state.h; the format in docs/vault-format.md.
 */
#include "job/vm_state.h"

#include <libvirt/libvirt.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/vault.h"

#define READ_ATTEMPTS 5
#define READ_RETRY_US 20000

/* ---- where libvirt keeps things ----------------------------------------- */

bool sp_libvirt_dirs(const char *uri, struct sp_libvirt_dirs *d,
		     const char **why)
{
	const char *sep = uri ? strstr(uri, "://") : NULL;
	const char *path, *end;
	size_t slen, plen;
	const char *w = NULL;

	if (!sep) {
		w = "the libvirt URI names no driver";
		goto unknown;
	}
	slen = (size_t)(sep - uri);
	if (!((slen == 4 && !strncmp(uri, "qemu", 4)) ||
	      (slen > 5 && !strncmp(uri, "qemu+", 5)))) {
		w = "only the qemu driver keeps NVRAM and swtpm state in "
		    "files Stillpoint knows";
		goto unknown;
	}
	path = sep + 3;
	if (*path != '/') {
		w = "the domain runs on another host: its NVRAM and TPM "
		    "state files are not readable from here";
		goto unknown;
	}
	end = strchr(path, '?');
	plen = end ? (size_t)(end - path) : strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	if (plen == 7 && !strncmp(path, "/system", 7)) {
		snprintf(d->nvram, sizeof(d->nvram),
			 "/var/lib/libvirt/qemu/nvram");
		snprintf(d->swtpm, sizeof(d->swtpm), "/var/lib/libvirt/swtpm");
		return true;
	}
	if (plen == 8 && !strncmp(path, "/session", 8)) {
		const char *xdg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		char base[PATH_MAX];

		if (xdg && xdg[0] == '/')
			snprintf(base, sizeof(base), "%s/libvirt", xdg);
		else if (home && home[0] == '/')
			snprintf(base, sizeof(base), "%s/.config/libvirt",
				 home);
		else {
			w = "the session's configuration directory is "
			    "unknown (no $HOME)";
			goto unknown;
		}
		snprintf(d->nvram, sizeof(d->nvram), "%.4000s/qemu/nvram",
			 base);
		snprintf(d->swtpm, sizeof(d->swtpm), "%.4000s/qemu/swtpm",
			 base);
		return true;
	}
	w = "the libvirt URI is neither qemu:///system nor qemu:///session";
unknown:
	if (why)
		*why = w;
	return false;
}

const char *sp_tpm_dir_name(const char *version)
{
	return version && !strcmp(version, "1.2") ? "tpm1.2" : "tpm2";
}

const struct sp_domain_tpm *
sp_domain_emulated_tpm(const struct sp_domain_def *def)
{
	for (size_t i = 0; i < def->ntpms; i++)
		if (def->tpms[i].backend &&
		    !strcmp(def->tpms[i].backend, "emulator"))
			return &def->tpms[i];
	return NULL;
}

/* ---- backup: reading one version of a file ------------------------------ */

static bool same_version(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read all of @fd, which fstat() said holds @size bytes; -EAGAIN when it
 * holds another number of bytes by now. */
static int read_whole(int fd, uint8_t *buf, size_t size)
{
	uint8_t extra;
	ssize_t n;
	int r;

	r = sp_pread_all(fd, buf, size, 0);
	if (r == -EIO)
		return -EAGAIN; /* shorter than it was */
	if (r < 0)
		return r;
	n = pread(fd, &extra, 1, (off_t)size);
	if (n < 0)
		return -errno;
	return n == 0 ? 0 : -EAGAIN;
}

/* One version of the file at @path (invariant 1): *@data (malloc'd),
 * *@len, *@st.  -errno; -EAGAIN when it changed on every attempt;
 * -SP_ENOTREG when it is not a regular file; -EFBIG when too large. */
static int read_stable(const char *path, uint8_t **data, size_t *len,
		       struct stat *st)
{
	int last = -EAGAIN;

	for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
		sp_autoclose int fd = -1;
		sp_autofree uint8_t *a = NULL, *b = NULL;
		struct stat s1, s2, s3;
		size_t size;
		int r;

		if (attempt)
			usleep(READ_RETRY_US);
		/* A link is followed (an operator's choice), a FIFO or
		 * device is not waited on. */
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &s1) < 0)
			return -errno;
		if (!S_ISREG(s1.st_mode))
			return -SP_ENOTREG;
		if ((uint64_t)s1.st_size > SP_STATE_FILE_MAX)
			return -EFBIG;
		size = (size_t)s1.st_size;
		a = malloc(size ? size : 1);
		b = malloc(size ? size : 1);
		if (!a || !b)
			return -ENOMEM;
		r = read_whole(fd, a, size);
		if (r == 0 && fstat(fd, &s2) < 0)
			r = -errno;
		if (r == 0 && !same_version(&s1, &s2))
			r = -EAGAIN;
		if (r == 0)
			r = read_whole(fd, b, size);
		if (r == 0 && fstat(fd, &s3) < 0)
			r = -errno;
		if (r == 0 && (!same_version(&s1, &s3) || memcmp(a, b, size)))
			r = -EAGAIN;
		if (r == 0) {
			*data = sp_steal_ptr(&a);
			*len = size;
			*st = s1;
			return 0;
		}
		if (r != -EAGAIN)
			return r;
		last = r;
	}
	return last;
}

/* ---- backup: the captured set ------------------------------------------- */

struct vm_item {
	json_t *j;
	uint8_t *data; /* NULL: not stored (j has "reason") */
	size_t len;
};

struct sp_vmstate {
	struct vm_item *items;
	size_t n, cap;
	json_t *firmware;
};

static int add_item(struct sp_vmstate *s, json_t *j, uint8_t *data, size_t len)
{
	if (!j) {
		free(data);
		return -ENOMEM;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4;
		void *p = realloc(s->items, ncap * sizeof(*s->items));
		if (!p) {
			json_decref(j);
			free(data);
			return -ENOMEM;
		}
		s->items = p;
		s->cap = ncap;
	}
	s->items[s->n++] = (struct vm_item){j, data, len};
	return 0;
}

static json_t *not_stored(const char *kind, const char *name,
			  const char *source, const char *why)
{
	return json_pack("{s:s, s:s?, s:s?, s:n, s:s}", "kind", kind, "name",
			 name, "source", source, "file", "reason", why);
}

static void state_warning(json_t *warnings, const char *kind, const char *path,
			  const char *why)
{
	char line[600];

	snprintf(line, sizeof(line),
		 "StateNotStored: the %s state '%.300s' is not in this "
		 "point: %s",
		 kind, path, why);
	sp_log(SP_LOG_WARNING, "%s", line);
	json_array_append_new(warnings, json_string(line));
}

/* Read @path into an item of @kind named @name; a file that is not there
 * is not stored, for @missing (invariant 2); any other failure also
 * warns. */
static int capture_file(struct sp_vmstate *s, const char *kind,
			const char *name, const char *path, const char *version,
			const char *missing, json_t *warnings)
{
	uint8_t *data = NULL;
	uint8_t sha[32];
	char hex[65], why[300], mode[8];
	struct stat st = {0};
	size_t len = 0;
	json_t *j;
	int r = read_stable(path, &data, &len, &st);

	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		return add_item(s, not_stored(kind, name, path, missing), NULL,
				0);
	if (r < 0) {
		if (r == -EAGAIN)
			snprintf(why, sizeof(why),
				 "it changed each of the %d times it was read",
				 READ_ATTEMPTS);
		else if (r == -SP_ENOTREG)
			snprintf(why, sizeof(why), "it is not a regular file");
		else if (r == -EFBIG)
			snprintf(why, sizeof(why), "it is larger than %u MiB",
				 SP_STATE_FILE_MAX >> 20);
		else
			snprintf(why, sizeof(why), "cannot read it: %s",
				 strerror(-r));
		state_warning(warnings, kind, path, why);
		return add_item(s, not_stored(kind, name, path, why), NULL, 0);
	}
	sp_sha256(data, len, sha);
	sp_hex_encode(sha, 32, hex);
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I}", "kind", kind,
		      "name", name, "source", path, "size", (json_int_t)len,
		      "sha256", hex, "mode", mode, "uid", (json_int_t)st.st_uid,
		      "gid", (json_int_t)st.st_gid);
	if (j && version)
		json_object_set_new(j, "tpm_version", json_string(version));
	return add_item(s, j, data, len);
}

static int capture_nvram(struct sp_vmstate *s, const struct sp_domain_def *def,
			 const struct sp_libvirt_dirs *dirs,
			 const char *no_dirs, json_t *warnings)
{
	const struct sp_domain_firmware *fw = &def->fw;
	char path[PATH_MAX];
	const char *base;

	if (fw->nvram_type && strcmp(fw->nvram_type, "file")) {
		char why[200];
		snprintf(why, sizeof(why),
			 "an NVRAM of type '%.40s' is not stored (only a "
			 "file is)",
			 fw->nvram_type);
		state_warning(warnings, "nvram",
			      fw->nvram ? fw->nvram : "(network)", why);
		return add_item(s, not_stored("nvram", NULL, fw->nvram, why),
				NULL, 0);
	}
	if (!dirs)
		return add_item(
		    s, not_stored("nvram", NULL, fw->nvram, no_dirs), NULL, 0);
	if (fw->nvram) {
		snprintf(path, sizeof(path), "%s", fw->nvram);
	} else {
		/* <os firmware='efi'> of a domain that is off: libvirt 9.0
		 * names its store only when it starts, always the same. */
		snprintf(path, sizeof(path), "%.3000s/%.200s_VARS.fd",
			 dirs->nvram, def->name);
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!sp_disk_name_is_valid(base, strlen(base)))
		base = "nvram";
	return capture_file(s, "nvram", base, path, NULL,
			    "the domain has no NVRAM yet: libvirt makes it "
			    "from the template when the domain first starts",
			    warnings);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every state file of swtpm's directory: all regular files but its lock
 * (.lock) and its temporary files (TMP*), in name order. */
static int capture_tpm(struct sp_vmstate *s, const struct sp_domain_tpm *t,
		       const char *uuid, const struct sp_libvirt_dirs *dirs,
		       const char *no_dirs, json_t *warnings)
{
	const char *version = t->version ? t->version : "2.0";
	char dir[PATH_MAX], path[PATH_MAX + 256];
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!dirs)
		return add_item(s, not_stored("tpm", NULL, NULL, no_dirs), NULL,
				0);
	snprintf(dir, sizeof(dir), "%.3000s/%.40s/%s", dirs->swtpm, uuid,
		 sp_tpm_dir_name(version));
	d = opendir(dir);
	if (!d && errno == ENOENT)
		return add_item(
		    s,
		    not_stored("tpm", NULL, dir,
			       "the domain has no TPM state yet: libvirt has "
			       "swtpm_setup make it when the domain first "
			       "starts"),
		    NULL, 0);
	if (!d) {
		char why[200];
		snprintf(why, sizeof(why), "cannot open it: %s",
			 strerror(errno));
		state_warning(warnings, "tpm", dir, why);
		return add_item(s, not_stored("tpm", NULL, dir, why), NULL, 0);
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || !strncmp(de->d_name, "TMP", 3))
			continue; /* ., .., .lock, swtpm's temporary files */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!sp_name_is_valid(de->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			state_warning(warnings, "tpm", path,
				      "its name cannot name a file of a point");
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *p = realloc(names, ncap * sizeof(*names));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			names = p;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; r == 0 && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		r = capture_file(s, "tpm", names[i], path, version,
				 "swtpm removed it while it was read",
				 warnings);
	}
	if (r == 0 && n == 0)
		r = add_item(s,
			     not_stored("tpm", NULL, dir,
					"the TPM state directory holds no "
					"state file"),
			     NULL, 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static json_t *firmware_json(const struct sp_domain_def *def)
{
	const struct sp_domain_firmware *fw = &def->fw;

	if (!fw->firmware && !fw->loader && !fw->has_nvram)
		return json_null();
	return json_pack("{s:s?, s:s?, s:s?, s:b, s:s?}", "type", fw->firmware,
			 "loader", fw->loader, "loader_type", fw->loader_type,
			 "loader_readonly", fw->loader_readonly,
			 "nvram_template", fw->nvram_template);
}

int sp_vmstate_capture(const struct sp_domain_def *def, const char *uri,
		       const char *uuid, json_t *warnings,
		       struct sp_vmstate **ret, struct sp_error *err)
{
	struct sp_vmstate *s = calloc(1, sizeof(*s));
	struct sp_libvirt_dirs dirs;
	const struct sp_domain_tpm *t = sp_domain_emulated_tpm(def);
	const char *no_dirs = NULL;
	bool known = sp_libvirt_dirs(uri, &dirs, &no_dirs);
	int r = 0;

	if (!s)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	s->firmware = firmware_json(def);
	if (!s->firmware)
		r = -ENOMEM;
	if (r == 0 && sp_domain_has_nvram(def))
		r = capture_nvram(s, def, known ? &dirs : NULL, no_dirs,
				  warnings);
	if (r == 0 && t)
		r = capture_tpm(s, t, uuid, known ? &dirs : NULL, no_dirs,
				warnings);
	for (size_t i = 0; r == 0 && i < def->ntpms; i++) {
		const struct sp_domain_tpm *o = &def->tpms[i];
		char why[160];

		if (o == t)
			continue;
		snprintf(why, sizeof(why),
			 "a TPM with backend '%.40s' keeps no state of its "
			 "own here",
			 o->backend ? o->backend : "(none)");
		r = add_item(s, not_stored("tpm", NULL, NULL, why), NULL, 0);
	}
	if (r < 0) {
		sp_vmstate_free(s);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	*ret = s;
	return 0;
}

int sp_vmstate_store(const struct sp_vmstate *s, struct sp_point_draft *draft,
		     json_t **state, json_t **firmware, struct sp_error *err)
{
	json_t *arr = json_array();

	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		json_t *j = json_deep_copy(s->items[i].j);
		char file[32];
		int r;

		if (!j) {
			json_decref(arr);
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		if (s->items[i].data) {
			snprintf(file, sizeof(file), "state-%zu", i);
			r = sp_point_draft_put(draft, file, s->items[i].data,
					       s->items[i].len, err);
			if (r < 0) {
				json_decref(j);
				json_decref(arr);
				return r;
			}
			json_object_set_new(j, "file", json_string(file));
		}
		json_array_append_new(arr, j);
	}
	*state = arr;
	*firmware = json_incref(s->firmware);
	return 0;
}

void sp_vmstate_free(struct sp_vmstate *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		json_decref(s->items[i].j);
		free(s->items[i].data);
	}
	free(s->items);
	json_decref(s->firmware);
	free(s);
}

/* ---- verify and restore: stored files ----------------------------------- */

static int read_point_file(const struct sp_point_ref *p, const char *file,
			   uint64_t size, const char *sha, uint8_t **data,
			   size_t *len, struct sp_error *err)
{
	sp_autofree char *buf = NULL;
	uint8_t got[32];
	char hex[65];
	size_t n = 0;
	int r;

	if (size != SP_POINT_FILE_ANY_SIZE && size > SP_STATE_FILE_MAX)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "the point's file '%s' is recorded as %llu "
				    "bytes, more than a state file may hold",
				    file, (unsigned long long)size);
	r = sp_vault_point_get(p->vault, p->name, p->id, file,
			       SP_STATE_FILE_MAX, &buf, &n, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "the point's file '%s' is missing", file);
	if (r < 0)
		return r;
	if (size != SP_POINT_FILE_ANY_SIZE && n != size)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "the point's file '%s' has %zu bytes, its "
				    "manifest says %llu",
				    file, n, (unsigned long long)size);
	sp_sha256(buf, n, got);
	sp_hex_encode(got, 32, hex);
	if (!sha || strcmp(hex, sha))
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "the point's file '%s' does not match the "
				    "SHA-256 its manifest records",
				    file);
	if (data) {
		*data = (uint8_t *)sp_steal_ptr(&buf);
		*len = n;
	}
	return 0;
}

int sp_point_file_check(const struct sp_point_ref *p, const char *file,
			uint64_t size, const char *sha, struct sp_error *err)
{
	return read_point_file(p, file, size, sha, NULL, NULL, err);
}

static bool known_kind(const char *kind)
{
	return !strcmp(kind, "nvram") || !strcmp(kind, "tpm");
}

int sp_point_state_load(const struct sp_point_ref *p, json_t *m,
			const char *where, struct sp_point_state *ps,
			struct sp_error *err)
{
	json_t *arr = json_object_get(m, "state"), *it;
	size_t i;
	int r;

	memset(ps, 0, sizeof(*ps));
	ps->manifest = json_incref(m);
	ps->not_stored = json_array();
	if (!ps->not_stored)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return 0;
	ps->files = calloc(json_array_size(arr), sizeof(*ps->files));
	if (!ps->files)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_foreach(arr, i, it)
	{
		struct sp_state_file *f = &ps->files[ps->n];
		const char *mode =
		    json_string_value(json_object_get(it, "mode"));

		f->file = json_string_value(json_object_get(it, "file"));
		if (!f->file) {
			json_array_append(ps->not_stored, it);
			continue;
		}
		f->item = it;
		f->kind = json_string_value(json_object_get(it, "kind"));
		f->name = json_string_value(json_object_get(it, "name"));
		f->source = json_string_value(json_object_get(it, "source"));
		f->version =
		    json_string_value(json_object_get(it, "tpm_version"));
		if (!known_kind(f->kind)) {
			r = sp_error_set(err, SP_E_USAGE,
					 "point '%s' holds state of kind '%s', "
					 "which this version cannot restore "
					 "(use a newer Stillpoint)",
					 where, f->kind);
			sp_point_state_release(ps);
			return r;
		}
		f->mode = mode ? (mode_t)strtoul(mode, NULL, 8) & 07777 : 0600;
		f->has_owner = json_is_integer(json_object_get(it, "uid")) &&
			       json_is_integer(json_object_get(it, "gid"));
		f->uid = (uid_t)json_integer_value(json_object_get(it, "uid"));
		f->gid = (gid_t)json_integer_value(json_object_get(it, "gid"));
		r = read_point_file(
		    p, f->file,
		    (uint64_t)json_integer_value(json_object_get(it, "size")),
		    json_string_value(json_object_get(it, "sha256")), &f->data,
		    &f->len, err);
		if (r < 0) {
			char msg[SP_ERROR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			sp_error_set(err, r, "point '%s': %s (its %s)", where,
				     msg, f->kind);
			sp_point_state_release(ps);
			return r;
		}
		ps->n++;
	}
	return 0;
}

void sp_point_state_release(struct sp_point_state *ps)
{
	for (size_t i = 0; ps->files && i < ps->n; i++)
		free(ps->files[i].data);
	free(ps->files);
	json_decref(ps->not_stored);
	json_decref(ps->manifest);
	memset(ps, 0, sizeof(*ps));
}

const struct sp_state_file *
sp_point_state_nvram(const struct sp_point_state *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->files[i].kind, "nvram"))
			return &ps->files[i];
	return NULL;
}

bool sp_point_state_has_tpm(const struct sp_point_state *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->files[i].kind, "tpm"))
			return true;
	return false;
}

/* ---- restore: putting files in place ------------------------------------ */

struct put_file {
	char *path; /* final */
	char *tmp;  /* beside it, until commit */
	const char *kind, *name;
	bool unlink_only; /* remove @path on commit */
	bool committed;
};

struct sp_state_put {
	struct put_file *files;
	size_t n, cap;
	char **dirs; /* made by this put, in order */
	size_t ndirs;
	bool committed;
};

struct sp_state_put *sp_state_put_new(void)
{
	return calloc(1, sizeof(struct sp_state_put));
}

/* The owner the files had at backup (or their directory has), best
 * effort: libvirt gives the NVRAM to QEMU's user and swtpm's directory to
 * swtpm's user again when the domain starts, whoever restored them. */
static void set_owner(int fd, const char *path, uid_t uid, gid_t gid)
{
	int r;

	if (uid == (uid_t)-1)
		return;
	r = fd >= 0 ? fchown(fd, uid, gid) : chown(path, uid, gid);
	if (r < 0)
		sp_log(SP_LOG_WARNING,
		       "cannot give '%s' to uid %u gid %u: %s (libvirt sets "
		       "its owner when the domain starts)",
		       path, (unsigned)uid, (unsigned)gid, strerror(errno));
}

static int target_code(int e)
{
	return sp_errno_to_code(e, SP_E_TARGET_WRITE, SP_E_TARGET_FULL, 0);
}

int sp_state_put_mkdir(struct sp_state_put *p, const char *path, mode_t mode,
		       uid_t uid, gid_t gid, struct sp_error *err)
{
	struct stat st;
	char **nd;

	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' exists and is not a "
					    "directory",
					    path);
		return 0;
	}
	if (errno != ENOENT)
		return sp_error_set_errno(err, target_code(errno), errno,
					  "cannot look at '%s'", path);
	nd = realloc(p->dirs, (p->ndirs + 1) * sizeof(*p->dirs));
	if (!nd)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	p->dirs = nd;
	if (mkdir(path, mode) < 0)
		return sp_error_set_errno(
		    err,
		    errno == ENOENT ? SP_E_TARGET_NOT_FOUND
				    : target_code(errno),
		    errno, "cannot create directory '%s'", path);
	p->dirs[p->ndirs] = strdup(path);
	if (!p->dirs[p->ndirs]) {
		rmdir(path);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	p->ndirs++;
	if (chmod(path, mode) < 0)
		return sp_error_set_errno(err, target_code(errno), errno,
					  "cannot set the mode of '%s'", path);
	set_owner(-1, path, uid, gid);
	return 0;
}

static struct put_file *put_add(struct sp_state_put *p, const char *path)
{
	struct put_file *f;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 8;
		void *np = realloc(p->files, ncap * sizeof(*p->files));
		if (!np)
			return NULL;
		p->files = np;
		p->cap = ncap;
	}
	f = &p->files[p->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		return NULL;
	p->n++;
	return f;
}

int sp_state_put_file(struct sp_state_put *p, const char *path,
		      const struct sp_state_file *sf, mode_t mode, uid_t uid,
		      gid_t gid, bool replace, struct sp_error *err)
{
	const char *slash = strrchr(path, '/');
	sp_autofree char *dir = NULL;
	sp_autoclose int dfd = -1;
	sp_autoclose int fd = -1;
	char tmp[300], rnd[8];
	uint8_t rb[4] = {0};
	struct stat st;
	struct put_file *f;
	int r;

	if (!slash || !slash[1])
		return sp_error_set(err, SP_E_INTERNAL, "bad state path '%s'",
				    path);
	dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sp_error_set_errno(
		    err,
		    errno == ENOENT ? SP_E_TARGET_NOT_FOUND
				    : target_code(errno),
		    errno, "cannot open directory '%s'", dir);
	if (fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!replace)
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' already exists (remove it, "
					    "or pass --force to replace it)",
					    path);
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' exists and is not a regular "
					    "file",
					    path);
	} else if (errno != ENOENT) {
		return sp_error_set_errno(err, target_code(errno), errno,
					  "cannot look at '%s'", path);
	}
	if (getrandom(rb, sizeof(rb), 0) != (ssize_t)sizeof(rb))
		rb[0] ^= (uint8_t)getpid();
	sp_hex_encode(rb, 3, rnd);
	snprintf(tmp, sizeof(tmp), ".%.200s.stillpoint-%s", slash + 1, rnd);
	fd = openat(dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return sp_error_set_errno(err, target_code(errno), errno,
					  "cannot create a file in '%s'", dir);
	f = put_add(p, path);
	if (!f || asprintf(&f->tmp, "%s/%s", dir, tmp) < 0) {
		if (f)
			f->tmp = NULL;
		unlinkat(dfd, tmp, 0);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	f->kind = sf->kind;
	f->name = sf->name;
	r = sp_pwrite_all(fd, sf->data, sf->len, 0);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0)
		set_owner(fd, f->tmp, uid, gid);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		return sp_error_set_errno(err, target_code(-r), -r,
					  "cannot write '%s'", f->tmp);
	return 0;
}

int sp_state_put_unlink(struct sp_state_put *p, const char *path,
			struct sp_error *err)
{
	struct put_file *f = put_add(p, path);

	if (!f)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	f->unlink_only = true;
	return 0;
}

static void fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	sp_autofree char *dir =
	    slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
		  : NULL;
	sp_autoclose int fd = -1;

	if (dir)
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd);
}

int sp_state_put_commit(struct sp_state_put *p, struct sp_error *err)
{
	for (size_t i = 0; i < p->n; i++) {
		struct put_file *f = &p->files[i];

		if (f->unlink_only || f->committed)
			continue;
		if (rename(f->tmp, f->path) < 0)
			return sp_error_set_errno(err, target_code(errno),
						  errno,
						  "cannot rename '%s' "
						  "to '%s'",
						  f->tmp, f->path);
		f->committed = true;
		fsync_parent(f->path);
	}
	for (size_t i = 0; i < p->n; i++) {
		struct put_file *f = &p->files[i];

		if (f->unlink_only && unlink(f->path) == 0)
			fsync_parent(f->path);
	}
	p->committed = true;
	return 0;
}

void sp_state_put_abort(struct sp_state_put *p, bool undo_commit)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct put_file *f = &p->files[i];

		if (f->unlink_only)
			continue;
		if (!f->committed && f->tmp)
			unlink(f->tmp);
		else if (f->committed && undo_commit)
			unlink(f->path);
	}
	if (p->committed && !undo_commit)
		return;
	/* Newest first: a directory made inside another goes before it. */
	for (size_t i = p->ndirs; i > 0; i--)
		sp_remove_tree_at(AT_FDCWD, p->dirs[i - 1]);
}

json_t *sp_state_put_files(const struct sp_state_put *p)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < p->n; i++) {
		const struct put_file *f = &p->files[i];

		if (f->unlink_only)
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:s?, s:s}",
						     "state", f->kind, "name",
						     f->name, "path", f->path));
	}
	return arr;
}

void sp_state_put_free(struct sp_state_put *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->files[i].path);
		free(p->files[i].tmp);
	}
	free(p->files);
	for (size_t i = 0; i < p->ndirs; i++)
		free(p->dirs[i]);
	free(p->dirs);
	free(p);
}

int sp_new_domain_uuid(virConnectPtr conn, const struct sp_libvirt_dirs *dirs,
		       char *out, struct sp_error *err)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		unsigned char u[16];
		char path[PATH_MAX];
		virDomainPtr other;
		struct stat st;

		if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
			return sp_error_set(err, SP_E_INTERNAL,
					    "cannot make a UUID: no random "
					    "bytes");
		u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
		u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
		snprintf(out, VIR_UUID_STRING_BUFLEN,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
			 "%02x%02x%02x%02x%02x%02x",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8],
			 u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		other = virDomainLookupByUUIDString(conn, out);
		if (other) {
			virDomainFree(other);
			continue;
		}
		snprintf(path, sizeof(path), "%.3000s/%s",
			 dirs ? dirs->swtpm : "", out);
		if (dirs && lstat(path, &st) == 0)
			continue;
		return 0;
	}
	return sp_error_set(err, SP_E_INTERNAL, "cannot find a free UUID");
}
