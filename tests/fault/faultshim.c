// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * faultshim.so: an LD_PRELOAD library for fault campaigns.  It makes the
 * Nth matching call of one kind of file operation fail with a chosen errno
 * (or kills the process there), counts matching calls for a dry run, and
 * records any write the process makes outside the places it may write.
 * One variable configures it (keys separated by commas, see fault.md):
 *
 *   SP_FAULT="op=write,nth=7,errno=ENOSPC,path=/v/vault,report=/v/r.log"
 *
 * Key invariant: it acts in one process only — the one whose executable is
 * named by exe= (default "stillpoint") and, with arg=, whose command line
 * holds that word.  Children that inherit the environment (qemu-nbd, the
 * thaw watchdog) and forked copies before their exec pass every call
 * straight through.
 */
/* The shim defines both the plain and the 64-bit names. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Fortified entry points glibc declares only under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t len, off64_t off,
		      size_t buflen);

/* Each call counts as one op: fsync of a directory is "dirsync", an open
 * that may create (O_CREAT, O_TMPFILE) is "create". */
enum op {
	OP_WRITE,
	OP_READ,
	OP_FSYNC,
	OP_DIRSYNC,
	OP_RENAME,
	OP_LINK,
	OP_OPEN,
	OP_CREATE,
	OP_UNLINK,
	OP_MKDIR,
	OP_TRUNCATE,
	OP_MAX
};

static const char *const op_names[OP_MAX] = {
    "write", "read",   "fsync",	 "dirsync", "rename",  "link",
    "open",  "create", "unlink", "mkdir",   "truncate"};

enum action { ACT_COUNT, ACT_FAIL, ACT_KILL, ACT_SHORT };

#define MAX_PREFIXES 16
#define FD_CACHE 4096

static struct {
	bool active;
	pid_t pid;
	unsigned ops; /* bit per enum op that faults */
	unsigned long nth, times;
	int err;
	enum action action;
	bool after; /* kill after the call instead of before it */
	bool trace; /* report every matching call, numbered per op */
	char *paths[MAX_PREFIXES];
	size_t npaths;
	char *allow[MAX_PREFIXES];
	size_t nallow;
	char *audit[MAX_PREFIXES];
	size_t naudit;
	char *noaudit[MAX_PREFIXES];
	size_t nnoaudit;
	char report[PATH_MAX];
	char exe[64];
} cfg;

static atomic_ulong counts[OP_MAX];
static atomic_ulong fault_seq;

/* What is known of a descriptor, valid while it names the same inode. */
struct fd_info {
	dev_t dev;
	ino_t ino;
	bool valid, match, outside, dir;
};
static struct fd_info fd_cache[FD_CACHE];
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...)                                           \
	static ret (*real_##name)(__VA_ARGS__);                                \
	static ret (*get_##name(void))(__VA_ARGS__)                            \
	{                                                                      \
		if (!real_##name)                                              \
			*(void **)&real_##name = dlsym(RTLD_NEXT, #name);      \
		return real_##name;                                            \
	}

DECLARE_REAL(ssize_t, write, int, const void *, size_t)
DECLARE_REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
DECLARE_REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
DECLARE_REAL(ssize_t, writev, int, const struct iovec *, int)
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t)
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec *, int, off64_t)
DECLARE_REAL(ssize_t, pwritev2, int, const struct iovec *, int, off_t, int)
DECLARE_REAL(ssize_t, pwritev64v2, int, const struct iovec *, int, off64_t, int)
DECLARE_REAL(ssize_t, read, int, void *, size_t)
DECLARE_REAL(ssize_t, pread, int, void *, size_t, off_t)
DECLARE_REAL(ssize_t, pread64, int, void *, size_t, off64_t)
DECLARE_REAL(ssize_t, readv, int, const struct iovec *, int)
DECLARE_REAL(ssize_t, preadv, int, const struct iovec *, int, off_t)
DECLARE_REAL(ssize_t, preadv64, int, const struct iovec *, int, off64_t)
DECLARE_REAL(ssize_t, preadv2, int, const struct iovec *, int, off_t, int)
DECLARE_REAL(ssize_t, preadv64v2, int, const struct iovec *, int, off64_t, int)
DECLARE_REAL(int, fsync, int)
DECLARE_REAL(int, fdatasync, int)
DECLARE_REAL(int, syncfs, int)
DECLARE_REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int)
DECLARE_REAL(int, rename, const char *, const char *)
DECLARE_REAL(int, renameat, int, const char *, int, const char *)
DECLARE_REAL(int, renameat2, int, const char *, int, const char *, unsigned int)
DECLARE_REAL(int, link, const char *, const char *)
DECLARE_REAL(int, linkat, int, const char *, int, const char *, int)
DECLARE_REAL(int, open, const char *, int, ...)
DECLARE_REAL(int, open64, const char *, int, ...)
DECLARE_REAL(int, openat, int, const char *, int, ...)
DECLARE_REAL(int, openat64, int, const char *, int, ...)
DECLARE_REAL(int, unlink, const char *)
DECLARE_REAL(int, unlinkat, int, const char *, int)
DECLARE_REAL(int, rmdir, const char *)
DECLARE_REAL(int, mkdir, const char *, mode_t)
DECLARE_REAL(int, mkdirat, int, const char *, mode_t)
DECLARE_REAL(int, ftruncate, int, off_t)
DECLARE_REAL(int, ftruncate64, int, off64_t)
DECLARE_REAL(int, fallocate, int, int, off_t, off_t)
DECLARE_REAL(int, fallocate64, int, int, off64_t, off64_t)
DECLARE_REAL(int, close, int)

/* ---- configuration ---- */

static const struct {
	const char *name;
	int value;
} errnos[] = {
    {"ENOSPC", ENOSPC},	      {"EIO", EIO},	  {"EDQUOT", EDQUOT},
    {"EACCES", EACCES},	      {"EPERM", EPERM},	  {"EROFS", EROFS},
    {"ENOMEM", ENOMEM},	      {"EMFILE", EMFILE}, {"ENFILE", ENFILE},
    {"EFBIG", EFBIG},	      {"EINTR", EINTR},	  {"EAGAIN", EAGAIN},
    {"ENOENT", ENOENT},	      {"EEXIST", EEXIST}, {"EBADF", EBADF},
    {"ETIMEDOUT", ETIMEDOUT},
};

static void shim_die(const char *what, const char *value)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "faultshim: bad SP_FAULT %s '%s'\n",
			 what, value);

	if (n > 0)
		get_write()(2, msg,
			    (size_t)n < sizeof(msg) ? (size_t)n
						    : sizeof(msg) - 1);
	_exit(125);
}

static unsigned parse_ops(char *v)
{
	unsigned ops = 0;
	char *save = NULL;

	for (char *t = strtok_r(v, "+", &save); t;
	     t = strtok_r(NULL, "+", &save)) {
		size_t i;
		if (!strcmp(t, "all")) {
			ops |= (1u << OP_MAX) - 1;
			continue;
		}
		for (i = 0; i < OP_MAX; i++)
			if (!strcmp(t, op_names[i]))
				break;
		if (i == OP_MAX)
			shim_die("op", t);
		ops |= 1u << i;
	}
	return ops;
}

static int parse_errno(const char *v)
{
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(v, errnos[i].name))
			return errnos[i].value;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n <= 0 || n > 4095)
		shim_die("errno", v);
	return (int)n;
}

static unsigned long parse_number(const char *what, const char *v)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*v == '\0' || *end != '\0')
		shim_die(what, v);
	return n;
}

/* A prefix as the kernel names it (/proc/self/fd), without a final '/'.
 * One that ends in '*' is a plain string prefix, taken as it is. */
static char *canonical_prefix(const char *v)
{
	char *c = v[0] && v[strlen(v) - 1] == '*' ? NULL : realpath(v, NULL);
	size_t n;

	if (!c)
		c = strdup(v);
	if (!c)
		_exit(125);
	n = strlen(c);
	while (n > 1 && c[n - 1] == '/')
		c[--n] = '\0';
	return c;
}

/* The process's command line holds @word as one argument (after argv[0]). */
static bool cmdline_has(const char *word)
{
	char buf[8192];
	ssize_t n;
	int fd = get_open()("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = get_read()(fd, buf, sizeof(buf) - 1);
	get_close()(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *p = buf + strlen(buf) + 1; p < buf + n; p += strlen(p) + 1)
		if (!strcmp(p, word))
			return true;
	return false;
}

static void parse_config(const char *env)
{
	char *copy = strdup(env), *save = NULL, exe[PATH_MAX];
	const char *arg = NULL, *base;
	ssize_t n;

	if (!copy)
		_exit(125);
	snprintf(cfg.exe, sizeof(cfg.exe), "stillpoint");
	cfg.times = 1;
	cfg.err = EIO;
	cfg.action = ACT_COUNT;
	for (char *kv = strtok_r(copy, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (!v) {
			if (!strcmp(kv, "count"))
				cfg.action = ACT_COUNT;
			else if (!strcmp(kv, "trace"))
				cfg.trace = true;
			else
				shim_die("key", kv);
			continue;
		}
		*v++ = '\0';
		if (!strcmp(kv, "op")) {
			cfg.ops = parse_ops(v);
		} else if (!strcmp(kv, "nth")) {
			cfg.nth = parse_number("nth", v);
		} else if (!strcmp(kv, "times")) {
			cfg.times = parse_number("times", v);
		} else if (!strcmp(kv, "errno")) {
			cfg.err = parse_errno(v);
		} else if (!strcmp(kv, "action")) {
			if (!strcmp(v, "fail"))
				cfg.action = ACT_FAIL;
			else if (!strcmp(v, "kill"))
				cfg.action = ACT_KILL;
			else if (!strcmp(v, "kill-after"))
				cfg.action = ACT_KILL, cfg.after = true;
			else if (!strcmp(v, "short"))
				cfg.action = ACT_SHORT;
			else if (!strcmp(v, "count"))
				cfg.action = ACT_COUNT;
			else
				shim_die("action", v);
		} else if (!strcmp(kv, "path")) {
			if (cfg.npaths == MAX_PREFIXES)
				shim_die("path (too many)", v);
			cfg.paths[cfg.npaths++] = canonical_prefix(v);
		} else if (!strcmp(kv, "allow")) {
			if (cfg.nallow == MAX_PREFIXES)
				shim_die("allow (too many)", v);
			cfg.allow[cfg.nallow++] = canonical_prefix(v);
		} else if (!strcmp(kv, "audit")) {
			if (cfg.naudit == MAX_PREFIXES)
				shim_die("audit (too many)", v);
			cfg.audit[cfg.naudit++] = canonical_prefix(v);
		} else if (!strcmp(kv, "noaudit")) {
			if (cfg.nnoaudit == MAX_PREFIXES)
				shim_die("noaudit (too many)", v);
			cfg.noaudit[cfg.nnoaudit++] = canonical_prefix(v);
		} else if (!strcmp(kv, "report")) {
			snprintf(cfg.report, sizeof(cfg.report), "%s", v);
		} else if (!strcmp(kv, "exe")) {
			snprintf(cfg.exe, sizeof(cfg.exe), "%s", v);
		} else if (!strcmp(kv, "arg")) {
			arg = v;
		} else {
			shim_die("key", kv);
		}
	}
	/* nth= without action= means: fail it. */
	if (cfg.nth > 0 && cfg.action == ACT_COUNT && !strstr(env, "action="))
		cfg.action = ACT_FAIL;
	if (cfg.action != ACT_COUNT && (cfg.nth == 0 || cfg.ops == 0))
		shim_die("fault (needs op= and nth=)", env);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		goto out;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	if (strcmp(base, cfg.exe) != 0)
		goto out;
	if (arg && !cmdline_has(arg))
		goto out;
	cfg.pid = getpid();
	cfg.active = true;
out:
	/* The prefixes stay referenced from cfg; only the copy goes. */
	free(copy);
}

/* ---- paths ---- */

/* Remove "." and ".." components and doubled slashes, in place. */
static void normalize(char *p)
{
	char *out = p, *in = p;

	while (*in) {
		while (*in == '/')
			in++;
		if (!*in)
			break;
		char *seg = in;
		while (*in && *in != '/')
			in++;
		size_t len = (size_t)(in - seg);
		if (len == 1 && seg[0] == '.')
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, len);
		out += len;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

static bool fd_path(int fd, char *out, size_t len)
{
	char proc[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, out, len - 1);
	if (n < 0)
		return false;
	out[n] = '\0';
	return true;
}

/* The absolute path @path names relative to @dirfd, lexically. */
static bool abs_path(int dirfd, const char *path, char *out, size_t len)
{
	char base[PATH_MAX];

	if (!path)
		return false;
	if (!strncmp(path, "/proc/self/fd/", 14)) /* linkat of an O_TMPFILE */
		return fd_path(atoi(path + 14), out, len);
	if (path[0] == '/') {
		snprintf(out, len, "%s", path);
	} else {
		if (dirfd == AT_FDCWD ? !getcwd(base, sizeof(base))
				      : !fd_path(dirfd, base, sizeof(base)))
			return false;
		if ((size_t)snprintf(out, len, "%s/%s", base, path) >= len)
			return false;
	}
	normalize(out);
	return true;
}

static bool under(const char *path, char *const *prefixes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(prefixes[i]);
		if (l > 0 && prefixes[i][l - 1] == '*') {
			if (!strncmp(path, prefixes[i], l - 1))
				return true;
			continue;
		}
		if (!strncmp(path, prefixes[i], l) &&
		    (path[l] == '/' || path[l] == '\0' || path[l] == ' ' ||
		     !strcmp(prefixes[i], "/")))
			return true;
	}
	return false;
}

static bool path_matches(const char *path)
{
	return cfg.npaths == 0 || under(path, cfg.paths, cfg.npaths);
}

/* Files a write may reach without being the command's output: the
 * terminal, the bit bucket, pipes, sockets and memory files. */
static bool path_is_outside(const char *path)
{
	static char *const exempt[] = {"/dev/null", "/dev/pts", "/dev/tty",
				       "/proc", "/memfd:*"};

	if (cfg.nallow == 0 || path[0] != '/')
		return false;
	if (under(path, exempt, sizeof(exempt) / sizeof(exempt[0])))
		return false;
	return !under(path, cfg.allow, cfg.nallow);
}

__attribute__((format(printf, 1, 2))) static void report_line(const char *fmt,
							      ...)
{
	char line[PATH_MAX + 256];
	va_list ap;
	int n, fd;

	if (!cfg.report[0])
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = get_open()(cfg.report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			0644);
	if (fd < 0)
		return;
	get_write()(fd, line, (size_t)n);
	get_close()(fd);
}

static bool active(void)
{
	return cfg.active && getpid() == cfg.pid;
}

/* Match and outside-ness of descriptor @fd, resolved once per open file. */
static struct fd_info fd_lookup(int fd)
{
	struct fd_info fi = {0};
	struct stat st;
	char path[PATH_MAX];

	if (fd < 0 || fstat(fd, &st) < 0)
		return fi;
	if (fd < FD_CACHE) {
		pthread_mutex_lock(&fd_lock);
		fi = fd_cache[fd];
		pthread_mutex_unlock(&fd_lock);
		if (fi.valid && fi.dev == st.st_dev && fi.ino == st.st_ino)
			return fi;
	}
	fi = (struct fd_info){.dev = st.st_dev,
			      .ino = st.st_ino,
			      .valid = true,
			      .dir = S_ISDIR(st.st_mode)};
	if (fd_path(fd, path, sizeof(path))) {
		fi.match = path_matches(path);
		fi.outside = path_is_outside(path);
	}
	if (fd < FD_CACHE) {
		pthread_mutex_lock(&fd_lock);
		fd_cache[fd] = fi;
		pthread_mutex_unlock(&fd_lock);
	}
	return fi;
}

/* ---- the decision ---- */

enum verdict { PASS, FAIL, KILL_AFTER, SHORTEN };

/* Count a matching call of @op and decide its fate.  @what names the call
 * and @path what it touched, for the report. */
static enum verdict decide(enum op op, const char *what, const char *path)
{
	unsigned long n;

	n = atomic_fetch_add(&counts[op], 1) + 1;
	if (cfg.trace)
		report_line("pid=%ld call op=%s n=%lu call=%s path=%s",
			    (long)getpid(), op_names[op], n, what,
			    path ? path : "?");
	if (cfg.action == ACT_COUNT || !(cfg.ops & (1u << op)))
		return PASS;
	n = atomic_fetch_add(&fault_seq, 1) + 1;
	if (n < cfg.nth || (cfg.times && n >= cfg.nth + cfg.times))
		return PASS;
	report_line("pid=%ld fired op=%s call=%s n=%lu errno=%d action=%s "
		    "path=%s",
		    (long)getpid(), op_names[op], what, n, cfg.err,
		    cfg.action == ACT_KILL
			? (cfg.after ? "kill-after" : "kill")
			: (cfg.action == ACT_SHORT ? "short" : "fail"),
		    path ? path : "?");
	if (cfg.action == ACT_KILL && !cfg.after)
		raise(SIGKILL);
	if (cfg.action == ACT_KILL)
		return KILL_AFTER;
	if (cfg.action == ACT_SHORT)
		return SHORTEN;
	return FAIL;
}

static enum verdict on_fd(enum op op, const char *what, int fd, bool mutates)
{
	struct fd_info fi;
	char path[PATH_MAX] = "?";

	if (!active())
		return PASS;
	fi = fd_lookup(fd);
	if (mutates && fi.outside) {
		fd_path(fd, path, sizeof(path));
		report_line("pid=%ld outside call=%s path=%s", (long)getpid(),
			    what, path);
	}
	if (!fi.match)
		return PASS;
	if (op == OP_FSYNC && fi.dir)
		op = OP_DIRSYNC;
	if (cfg.action != ACT_COUNT || cfg.trace)
		fd_path(fd, path, sizeof(path));
	return decide(op, what, path);
}

static enum verdict on_path(enum op op, const char *what, int dirfd,
			    const char *p1, int dirfd2, const char *p2,
			    bool mutates)
{
	char a[PATH_MAX], b[PATH_MAX];
	bool ha, hb;

	if (!active())
		return PASS;
	ha = abs_path(dirfd, p1, a, sizeof(a));
	hb = p2 && abs_path(dirfd2, p2, b, sizeof(b));
	if (mutates &&
	    ((ha && path_is_outside(a)) || (hb && path_is_outside(b))))
		report_line("pid=%ld outside call=%s path=%s%s%s",
			    (long)getpid(), what, ha ? a : "?",
			    hb ? " -> " : "", hb ? b : "");
	if (!((ha && path_matches(a)) || (hb && path_matches(b))))
		return PASS;
	return decide(op, what, ha ? a : (hb ? b : NULL));
}

static void kill_now(void)
{
	raise(SIGKILL);
}

static bool open_mutates(int flags)
{
	return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) ||
	       (flags & O_TMPFILE) == O_TMPFILE;
}

static bool open_has_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* ---- the durability audit ---- */

/*
 * With audit=PREFIX the shim keeps the rules of publication on the files
 * and directories under PREFIX (minus noaudit=): a file written is dirty
 * until fsync/fdatasync; a directory that gained a name (create, mkdir,
 * rename, link) is dirty until it is synced.  A dirty file or directory
 * given a name by rename or link is reported at once ("unsynced"), and
 * whatever is still dirty when the process exits ("dirty"): a command
 * that succeeds must leave nothing it published at the mercy of a power
 * cut.  An unlink does not dirty its directory (a name that comes back
 * after a crash is harmless here), and a file whose last name goes needs
 * no sync any more.
 */
#define AUDIT_SLOTS 16384

struct audit_slot {
	dev_t dev;
	ino_t ino;
	bool used, dirty;
	char path[240];
};
static struct audit_slot audit_tab[AUDIT_SLOTS];
static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;

static bool auditing(void)
{
	return cfg.naudit > 0;
}

static bool audit_scope(const char *path)
{
	return under(path, cfg.audit, cfg.naudit) &&
	       !under(path, cfg.noaudit, cfg.nnoaudit);
}

/* The slot of an inode (created when @add); called with audit_lock. */
static struct audit_slot *audit_slot(dev_t dev, ino_t ino, bool add)
{
	size_t h = (size_t)((ino * 0x9e3779b97f4a7c15ull) ^ dev) % AUDIT_SLOTS;

	for (size_t i = 0; i < AUDIT_SLOTS; i++) {
		struct audit_slot *s = &audit_tab[(h + i) % AUDIT_SLOTS];
		if (s->used && s->dev == dev && s->ino == ino)
			return s;
		if (!s->used) {
			if (!add)
				return NULL;
			*s = (struct audit_slot){
			    .dev = dev, .ino = ino, .used = true};
			return s;
		}
	}
	return NULL;
}

static void audit_mark(const struct stat *st, const char *path, bool dirty)
{
	struct audit_slot *s;

	pthread_mutex_lock(&audit_lock);
	s = audit_slot(st->st_dev, st->st_ino, dirty);
	if (s) {
		s->dirty = dirty;
		if (dirty) {
			size_t n = strlen(path);
			if (n >= sizeof(s->path))
				n = sizeof(s->path) - 1;
			memcpy(s->path, path, n);
			s->path[n] = '\0';
		}
	}
	pthread_mutex_unlock(&audit_lock);
}

/* A write or a size change through @fd. */
static void audit_written(int fd)
{
	char path[PATH_MAX];
	struct stat st;

	if (!auditing() || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !fd_path(fd, path, sizeof(path)) || !audit_scope(path))
		return;
	audit_mark(&st, path, true);
}

/* fsync/fdatasync of @fd, or syncfs of its file system (@all). */
static void audit_synced(int fd, bool all)
{
	struct stat st;

	if (!auditing() || fstat(fd, &st) < 0)
		return;
	if (!all) {
		audit_mark(&st, "", false);
		return;
	}
	pthread_mutex_lock(&audit_lock);
	for (size_t i = 0; i < AUDIT_SLOTS; i++)
		if (audit_tab[i].used && audit_tab[i].dev == st.st_dev)
			audit_tab[i].dirty = false;
	pthread_mutex_unlock(&audit_lock);
}

/* The directory that holds @path (relative to @dirfd) gained a name. */
static void audit_new_name(int dirfd, const char *path)
{
	char abs[PATH_MAX];
	struct stat st;
	char *slash;

	if (!auditing() || !abs_path(dirfd, path, abs, sizeof(abs)) ||
	    !audit_scope(abs))
		return;
	slash = strrchr(abs, '/');
	if (!slash)
		return;
	*(slash == abs ? slash + 1 : slash) = '\0';
	if (audit_scope(abs) && stat(abs, &st) == 0)
		audit_mark(&st, abs, true);
}

/* A dirty inode renamed to @path is reported under its new name. */
static void audit_renamed(int dirfd, const char *path)
{
	char abs[PATH_MAX];
	struct audit_slot *s;
	struct stat st;

	if (!auditing() || !abs_path(dirfd, path, abs, sizeof(abs)) ||
	    stat(abs, &st) < 0)
		return;
	pthread_mutex_lock(&audit_lock);
	s = audit_slot(st.st_dev, st.st_ino, false);
	if (s && s->dirty) {
		size_t n = strlen(abs);
		if (n >= sizeof(s->path))
			n = sizeof(s->path) - 1;
		memcpy(s->path, abs, n);
		s->path[n] = '\0';
	}
	pthread_mutex_unlock(&audit_lock);
}

/* @from is about to be named @to (relative to their directories): its
 * content must be durable first. */
static void audit_publish(const char *what, int fromfd, const char *from,
			  int tofd, const char *to)
{
	char dst[PATH_MAX], src[PATH_MAX] = "?";
	struct audit_slot *s;
	struct stat st;
	bool dirty = false;
	int r;

	if (!auditing() || !abs_path(tofd, to, dst, sizeof(dst)) ||
	    !audit_scope(dst))
		return;
	if (!strncmp(from, "/proc/self/fd/", 14))
		r = fstat(atoi(from + 14), &st);
	else
		r = fstatat(fromfd, from, &st, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return;
	pthread_mutex_lock(&audit_lock);
	s = audit_slot(st.st_dev, st.st_ino, false);
	if (s && s->dirty) {
		dirty = true;
		snprintf(src, sizeof(src), "%s", s->path);
	}
	pthread_mutex_unlock(&audit_lock);
	if (dirty)
		report_line("pid=%ld unsynced call=%s path=%s -> %s",
			    (long)getpid(), what, src, dst);
}

/* An open that may create: did the name exist before? */
static bool audit_exists(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void audit_exit_report(void)
{
	for (size_t i = 0; i < AUDIT_SLOTS; i++)
		if (audit_tab[i].used && audit_tab[i].dirty)
			report_line("pid=%ld dirty path=%s", (long)getpid(),
				    audit_tab[i].path);
}

/* ---- the wrappers ---- */

#define FAIL_WITH(ret)                                                         \
	do {                                                                   \
		errno = cfg.err;                                               \
		return ret;                                                    \
	} while (0)

/* A call through the real function, then the verdict's aftermath. */
#define AFTER(v, expr)                                                         \
	({                                                                     \
		__typeof__(expr) r_ = (expr);                                  \
		int e_ = errno;                                                \
		if ((v) == KILL_AFTER)                                         \
			kill_now();                                            \
		errno = e_;                                                    \
		r_;                                                            \
	})

#define HALF(len) ((v) == SHORTEN && (len) > 1 ? (len) / 2 : (len))

enum audit_hook { AU_NONE, AU_WRITTEN, AU_SYNCED, AU_SYNCED_ALL };

static void audit_fd(enum audit_hook h, int fd, bool ok)
{
	if (!ok || h == AU_NONE || !active())
		return;
	if (h == AU_WRITTEN)
		audit_written(fd);
	else
		audit_synced(fd, h == AU_SYNCED_ALL);
}

#define FD_RW(op, mut, name, ret, len, call, ...)                              \
	FD_RW_AUDIT(op, mut, AU_NONE, name, ret, len, call, __VA_ARGS__)

#define FD_RW_AUDIT(op, mut, hook, name, ret, len, call, ...)                  \
	ret name(__VA_ARGS__)                                                  \
	{                                                                      \
		enum verdict v = on_fd(op, #name, fd, mut);                    \
		ret r;                                                         \
		if (v == FAIL)                                                 \
			FAIL_WITH(-1);                                         \
		(void)(len);                                                   \
		r = AFTER(v, call);                                            \
		audit_fd(hook, fd, r >= 0);                                    \
		return r;                                                      \
	}

FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, write, ssize_t, n,
	    get_write()(fd, buf, HALF(n)), int fd, const void *buf, size_t n)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwrite, ssize_t, n,
	    get_pwrite()(fd, buf, HALF(n), off), int fd, const void *buf,
	    size_t n, off_t off)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwrite64, ssize_t, n,
	    get_pwrite64()(fd, buf, HALF(n), off), int fd, const void *buf,
	    size_t n, off64_t off)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, writev, ssize_t, 0,
	    get_writev()(fd, iov, cnt), int fd, const struct iovec *iov,
	    int cnt)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwritev, ssize_t, 0,
	    get_pwritev()(fd, iov, cnt, off), int fd, const struct iovec *iov,
	    int cnt, off_t off)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwritev64, ssize_t, 0,
	    get_pwritev64()(fd, iov, cnt, off), int fd, const struct iovec *iov,
	    int cnt, off64_t off)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwritev2, ssize_t, 0,
	    get_pwritev2()(fd, iov, cnt, off, fl), int fd,
	    const struct iovec *iov, int cnt, off_t off, int fl)
FD_RW_AUDIT(OP_WRITE, true, AU_WRITTEN, pwritev64v2, ssize_t, 0,
	    get_pwritev64v2()(fd, iov, cnt, off, fl), int fd,
	    const struct iovec *iov, int cnt, off64_t off, int fl)
FD_RW(OP_READ, false, read, ssize_t, n, get_read()(fd, buf, HALF(n)), int fd,
      void *buf, size_t n)
FD_RW(OP_READ, false, __read_chk, ssize_t, n, get_read()(fd, buf, HALF(n)),
      int fd, void *buf, size_t n, size_t buflen)
FD_RW(OP_READ, false, pread, ssize_t, n, get_pread()(fd, buf, HALF(n), off),
      int fd, void *buf, size_t n, off_t off)
FD_RW(OP_READ, false, __pread_chk, ssize_t, n,
      get_pread()(fd, buf, HALF(n), off), int fd, void *buf, size_t n,
      off_t off, size_t buflen)
FD_RW(OP_READ, false, pread64, ssize_t, n, get_pread64()(fd, buf, HALF(n), off),
      int fd, void *buf, size_t n, off64_t off)
FD_RW(OP_READ, false, __pread64_chk, ssize_t, n,
      get_pread64()(fd, buf, HALF(n), off), int fd, void *buf, size_t n,
      off64_t off, size_t buflen)
FD_RW(OP_READ, false, readv, ssize_t, 0, get_readv()(fd, iov, cnt), int fd,
      const struct iovec *iov, int cnt)
FD_RW(OP_READ, false, preadv, ssize_t, 0, get_preadv()(fd, iov, cnt, off),
      int fd, const struct iovec *iov, int cnt, off_t off)
FD_RW(OP_READ, false, preadv64, ssize_t, 0, get_preadv64()(fd, iov, cnt, off),
      int fd, const struct iovec *iov, int cnt, off64_t off)
FD_RW(OP_READ, false, preadv2, ssize_t, 0, get_preadv2()(fd, iov, cnt, off, fl),
      int fd, const struct iovec *iov, int cnt, off_t off, int fl)
FD_RW(OP_READ, false, preadv64v2, ssize_t, 0,
      get_preadv64v2()(fd, iov, cnt, off, fl), int fd, const struct iovec *iov,
      int cnt, off64_t off, int fl)
FD_RW_AUDIT(OP_FSYNC, false, AU_SYNCED, fsync, int, 0, get_fsync()(fd), int fd)
FD_RW_AUDIT(OP_FSYNC, false, AU_SYNCED, fdatasync, int, 0, get_fdatasync()(fd),
	    int fd)
FD_RW_AUDIT(OP_FSYNC, false, AU_SYNCED_ALL, syncfs, int, 0, get_syncfs()(fd),
	    int fd)
FD_RW(OP_FSYNC, false, sync_file_range, int, 0,
      get_sync_file_range()(fd, off, n, fl), int fd, off64_t off, off64_t n,
      unsigned int fl)
FD_RW_AUDIT(OP_TRUNCATE, true, AU_WRITTEN, ftruncate, int, 0,
	    get_ftruncate()(fd, len), int fd, off_t len)
FD_RW_AUDIT(OP_TRUNCATE, true, AU_WRITTEN, ftruncate64, int, 0,
	    get_ftruncate64()(fd, len), int fd, off64_t len)
FD_RW_AUDIT(OP_TRUNCATE, true, AU_WRITTEN, fallocate, int, 0,
	    get_fallocate()(fd, mode, off, len), int fd, int mode, off_t off,
	    off_t len)
FD_RW_AUDIT(OP_TRUNCATE, true, AU_WRITTEN, fallocate64, int, 0,
	    get_fallocate64()(fd, mode, off, len), int fd, int mode,
	    off64_t off, off64_t len)

/* Renames and links publish @p1 as @p2; mkdir adds @p1; an unlink that
 * removes a file's last name ends its need to be synced (a temporary
 * file given up after an error).  Returns whether *@gone is that file. */
static bool audit_path_pre(enum op op, const char *what, int d1, const char *p1,
			   int d2, const char *p2, struct stat *gone)
{
	if (!active() || !auditing())
		return false;
	if (op == OP_RENAME || op == OP_LINK)
		audit_publish(what, d1, p1, d2, p2);
	return op == OP_UNLINK &&
	       fstatat(d1, p1, gone, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(gone->st_mode) && gone->st_nlink == 1;
}

static void audit_path_post(enum op op, int d1, const char *p1, int d2,
			    const char *p2, bool ok, const struct stat *gone)
{
	if (!ok || !active())
		return;
	if (op == OP_RENAME)
		audit_renamed(d2, p2);
	if (op == OP_RENAME || op == OP_LINK)
		audit_new_name(d2, p2);
	else if (op == OP_MKDIR)
		audit_new_name(d1, p1);
	else if (gone)
		audit_mark(gone, "", false);
}

#define PATH_OP(op, mut, name, d1, p1, d2, p2, call, ...)                      \
	int name(__VA_ARGS__)                                                  \
	{                                                                      \
		enum verdict v = on_path(op, #name, d1, p1, d2, p2, mut);      \
		struct stat gone_;                                             \
		bool last_;                                                    \
		int r;                                                         \
		if (v == FAIL)                                                 \
			FAIL_WITH(-1);                                         \
		last_ = audit_path_pre(op, #name, d1, p1, d2, p2, &gone_);     \
		r = AFTER(v, call);                                            \
		audit_path_post(op, d1, p1, d2, p2, r == 0,                    \
				last_ ? &gone_ : NULL);                        \
		return r;                                                      \
	}

PATH_OP(OP_RENAME, true, rename, AT_FDCWD, a, AT_FDCWD, b, get_rename()(a, b),
	const char *a, const char *b)
PATH_OP(OP_RENAME, true, renameat, da, a, db, b, get_renameat()(da, a, db, b),
	int da, const char *a, int db, const char *b)
PATH_OP(OP_RENAME, true, renameat2, da, a, db, b,
	get_renameat2()(da, a, db, b, fl), int da, const char *a, int db,
	const char *b, unsigned int fl)
PATH_OP(OP_LINK, true, link, AT_FDCWD, a, AT_FDCWD, b, get_link()(a, b),
	const char *a, const char *b)
PATH_OP(OP_LINK, true, linkat, da, a, db, b, get_linkat()(da, a, db, b, fl),
	int da, const char *a, int db, const char *b, int fl)
PATH_OP(OP_UNLINK, true, unlink, AT_FDCWD, a, AT_FDCWD, NULL, get_unlink()(a),
	const char *a)
PATH_OP(OP_UNLINK, true, unlinkat, d, a, AT_FDCWD, NULL,
	get_unlinkat()(d, a, fl), int d, const char *a, int fl)
PATH_OP(OP_UNLINK, true, rmdir, AT_FDCWD, a, AT_FDCWD, NULL, get_rmdir()(a),
	const char *a)
PATH_OP(OP_MKDIR, true, mkdir, AT_FDCWD, a, AT_FDCWD, NULL,
	get_mkdir()(a, mode), const char *a, mode_t mode)
PATH_OP(OP_MKDIR, true, mkdirat, d, a, AT_FDCWD, NULL,
	get_mkdirat()(d, a, mode), int d, const char *a, mode_t mode)

/* open and friends: variadic, the mode exists only with O_CREAT/O_TMPFILE. */
#define OPEN_CHECK(name, d)                                                    \
	enum verdict v =                                                       \
	    on_path(open_has_mode(flags) ? OP_CREATE : OP_OPEN, #name, d,      \
		    path, AT_FDCWD, NULL, open_mutates(flags));                \
	if (v == FAIL)                                                         \
	FAIL_WITH(-1)

/* An open that created a name (not an O_TMPFILE: it has none). */
static bool audit_open_pre(int d, const char *path, int flags)
{
	return active() && auditing() && (flags & O_CREAT) &&
	       (flags & O_TMPFILE) != O_TMPFILE && !audit_exists(d, path);
}

static void audit_open_post(bool created, int d, const char *path, int fd)
{
	if (created && fd >= 0)
		audit_new_name(d, path);
}

#define OPEN_VAR(name, d, call, ...)                                           \
	int name(__VA_ARGS__, ...)                                             \
	{                                                                      \
		mode_t mode = 0;                                               \
		bool created;                                                  \
		int fd_;                                                       \
		if (open_has_mode(flags)) {                                    \
			va_list ap;                                            \
			va_start(ap, flags);                                   \
			mode = (mode_t)va_arg(ap, int);                        \
			va_end(ap);                                            \
		}                                                              \
		OPEN_CHECK(name, d);                                           \
		created = audit_open_pre(d, path, flags);                      \
		fd_ = AFTER(v, call);                                          \
		audit_open_post(created, d, path, fd_);                        \
		return fd_;                                                    \
	}

#define OPEN_FIXED(name, d, call, ...)                                         \
	int name(__VA_ARGS__)                                                  \
	{                                                                      \
		OPEN_CHECK(name, d);                                           \
		return AFTER(v, call);                                         \
	}

OPEN_VAR(open, AT_FDCWD, get_open()(path, flags, mode), const char *path,
	 int flags)
OPEN_VAR(open64, AT_FDCWD, get_open64()(path, flags, mode), const char *path,
	 int flags)
OPEN_VAR(openat, dirfd, get_openat()(dirfd, path, flags, mode), int dirfd,
	 const char *path, int flags)
OPEN_VAR(openat64, dirfd, get_openat64()(dirfd, path, flags, mode), int dirfd,
	 const char *path, int flags)
OPEN_FIXED(__open_2, AT_FDCWD, get_open()(path, flags), const char *path,
	   int flags)
OPEN_FIXED(__open64_2, AT_FDCWD, get_open64()(path, flags), const char *path,
	   int flags)
OPEN_FIXED(__openat_2, dirfd, get_openat()(dirfd, path, flags), int dirfd,
	   const char *path, int flags)
OPEN_FIXED(__openat64_2, dirfd, get_openat64()(dirfd, path, flags), int dirfd,
	   const char *path, int flags)

int creat(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* ---- life cycle ---- */

__attribute__((constructor)) static void shim_init(void)
{
	const char *env = getenv("SP_FAULT");

	if (env && *env)
		parse_config(env);
}

/* The dry run's answer: how many calls of each op matched. */
__attribute__((destructor)) static void shim_fini(void)
{
	char line[512];
	size_t at = 0;

	if (!active())
		return;
	for (int i = 0; i < OP_MAX; i++)
		at += (size_t)snprintf(line + at, sizeof(line) - at, " %s=%lu",
				       op_names[i], atomic_load(&counts[i]));
	report_line("pid=%ld exe=%s counts%s", (long)getpid(), cfg.exe, line);
	audit_exit_report();
}
