// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Serving a point over NBD (serve.h): nbdkit with Stillpoint's plugin
 * (serve_plugin.c), started, awaited, stopped.
 *
 * Readiness is nbdkit's pid file: nbdkit writes it once it listens, so a
 * caller that gets 0 from sp_serve_start() can connect at once.  nbdkit
 * inherits our environment (the vault's credentials and settings) and
 * nothing else: stdin is /dev/null, descriptors above 2 are closed --
 * but for an encrypted vault's key, which this process has unlocked
 * already (however it was given: a passphrase typed at our terminal
 * reaches no child).  It goes to nbdkit as descriptor 3, a sealed memfd
 * holding the key in its paper form, which the vault takes wherever it
 * takes a key file; STILLPOINT_KEY_FILE names it and the passphrase
 * variables are left out of nbdkit's environment.  The server so opens
 * the vault without a second scrypt, and nothing of the key touches a
 * disk.
 */
#include "job/serve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/spawn.h"
#include "vault/vault.h"
#include "vault/vault_key.h"

#ifndef SP_PLUGIN_DIR
#define SP_PLUGIN_DIR "/usr/local/lib/stillpoint"
#endif
#define PLUGIN_FILE "nbdkit-stillpoint-plugin.so"

/* How long nbdkit may take to open the vault and listen. */
#define SERVE_START_TIMEOUT_MS 120000

const char *sp_serve_export_name(json_t *d)
{
	const char *t = json_string_value(json_object_get(d, "target"));

	return t && *t ? t : json_string_value(json_object_get(d, "name"));
}

/* The plugin: $STILLPOINT_NBDKIT_PLUGIN, beside the running binary (the
 * build tree), or the installed one. */
static bool find_plugin(char *out, size_t cap)
{
	const char *env = getenv("STILLPOINT_NBDKIT_PLUGIN");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return access(out, R_OK) == 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(out, cap, "%.*s/%s", PATH_MAX - 64, exe,
				     PLUGIN_FILE) < (int)cap &&
			    access(out, R_OK) == 0)
				return true;
		}
	}
	snprintf(out, cap, "%s/%s", SP_PLUGIN_DIR, PLUGIN_FILE);
	return access(out, R_OK) == 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The last lines of nbdkit's log, for an error message. */
static void log_tail(const char *log, char *out, size_t cap)
{
	char *text = NULL;
	size_t len = 0;
	const char *p;

	out[0] = '\0';
	if (!log || sp_file_read(AT_FDCWD, log, 1 << 20, &text, &len) < 0)
		return;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	p = len > cap - 1 ? text + len - (cap - 1) : text;
	snprintf(out, cap, "%s", p);
	for (char *c = out; *c; c++)
		if (*c == '\n')
			*c = ' ';
	free(text);
}

/* Remove what @s->dir holds and the directory; frees @s->dir. */
static void served_free_files(struct sp_served *s)
{
	if (s->dir) {
		char path[PATH_MAX];
		static const char *const files[] = {"owner.pid", "nbdkit.pid",
						    "nbdkit.log", "stats.json",
						    "nbd.sock"};

		for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
			snprintf(path, sizeof(path), "%s/%s", s->dir, files[i]);
			unlink(path);
		}
		rmdir(s->dir);
	}
	free(s->dir);
	s->dir = NULL;
}

static void served_free(struct sp_served *s)
{
	if (!s)
		return;
	served_free_files(s);
	free(s->socket);
	free(s->log);
	json_decref(s->exports);
	free(s);
}

/* nbdkit's descriptor of the vault's key, and how it names it. */
#define KEY_FD 3
#define KEY_FD_TEXT_(n) #n
#define KEY_FD_TEXT(n) KEY_FD_TEXT_(n)
#define KEY_FILE_ENV "STILLPOINT_KEY_FILE=/proc/self/fd/" KEY_FD_TEXT(KEY_FD)

/* *@fd: a sealed memfd holding the paper form of @v's key (header
 * comment), or -1 for a vault that is not encrypted. */
static int key_memfd(const struct sp_vault *v, int *fd, struct sp_error *err)
{
	char *text = NULL;
	size_t len;
	int mfd, r,
	    seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;

	*fd = -1;
	if (!v->key)
		return 0;
	r = sp_vault_key_paper_encode(v->key, &text, err);
	if (r < 0)
		return r;
	len = strlen(text);
	mfd = memfd_create("stillpoint-vault-key",
			   MFD_CLOEXEC | MFD_ALLOW_SEALING);
	/* never on 0-2, which the child makes its standard streams */
	if (mfd >= 0 && mfd <= 2) {
		int high = fcntl(mfd, F_DUPFD_CLOEXEC, KEY_FD);
		close(mfd);
		mfd = high;
	}
	r = mfd < 0 ? -errno : sp_pwrite_all(mfd, text, len, 0);
	if (r == 0 && fcntl(mfd, F_ADD_SEALS, seals) < 0)
		r = -errno;
	explicit_bzero(text, len);
	free(text);
	if (r < 0) {
		if (mfd >= 0)
			close(mfd);
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, -r,
					  "cannot hand the vault's key to "
					  "the NBD server");
	}
	*fd = mfd;
	return 0;
}

/* The exports of point @o->name@@id (checked against @o->disk), and in
 * *@key_fd the vault's key for the server (key_memfd()). */
static int list_exports(const struct sp_serve_opts *o, json_t **ret,
			int *key_fd, struct sp_error *err)
{
	struct sp_vault *v = o->open_vault;
	json_t *m = NULL, *d, *out = json_array();
	size_t i;
	int r = 0;

	if (!out)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!v)
		r = sp_vault_open(o->vault, &v, err);
	if (r == 0)
		r = sp_vault_point_manifest(v, o->name, o->id, &m, err);
	if (r == 0)
		r = key_memfd(v, key_fd, err);
	if (v != o->open_vault)
		sp_vault_close(v);
	if (r < 0) {
		json_decref(out);
		return r;
	}
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *ex = sp_serve_export_name(d);
		const char *name =
		    json_string_value(json_object_get(d, "name"));

		if (o->disk && strcmp(o->disk, ex) && strcmp(o->disk, name))
			continue;
		json_array_append_new(
		    out,
		    json_pack("{s:s, s:s, s:I, s:s}", "export", ex, "name",
			      name, "size",
			      json_integer_value(json_object_get(d, "size")),
			      "format",
			      json_string_value(json_object_get(d, "format"))
				  ?: "raw"));
	}
	json_decref(m);
	if (json_array_size(out) == 0) {
		json_decref(out);
		return sp_error_set(
		    err, SP_E_USAGE,
		    "point '%s@%s' has no disk '%s' (its disks: "
		    "'stillpoint points %s --json')",
		    o->name, o->id, o->disk, o->name);
	}
	*ret = out;
	return 0;
}

/* nbdkit's command line and environment, made before fork(): the child
 * only execs. */
struct nbdkit_cmd {
	char vault[PATH_MAX + 8], name[128], id[128], disk[200], cache[64],
	    stats[PATH_MAX + 8], port[16];
	const char *argv[32];
	int key_fd;	   /* the vault's key (key_memfd()), or -1 */
	const char **envp; /* with key_fd: ours, the key settings replaced */
};

static bool is_key_setting(const char *var)
{
	static const char *const names[] = {
	    "STILLPOINT_KEY_FILE=", "STILLPOINT_PASSPHRASE=",
	    "STILLPOINT_PASSPHRASE_FILE="};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!strncmp(var, names[i], strlen(names[i])))
			return true;
	return false;
}

/* @c->envp for a server given the key as descriptor KEY_FD. */
static int nbdkit_env_make(struct nbdkit_cmd *c, struct sp_error *err)
{
	size_t n = 0, k = 0;

	while (environ[n])
		n++;
	c->envp = calloc(n + 2, sizeof(*c->envp));
	if (!c->envp)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!is_key_setting(environ[i]))
			c->envp[k++] = environ[i];
	c->envp[k++] = KEY_FILE_ENV;
	c->envp[k] = NULL;
	return 0;
}

static void nbdkit_cmd_make(struct nbdkit_cmd *c, const struct sp_serve_opts *o,
			    const char *nbdkit, const char *plugin,
			    const struct sp_served *s, const char *pidfile,
			    const char *stats)
{
	int n = 0;

	snprintf(c->vault, sizeof(c->vault), "vault=%s", o->vault);
	snprintf(c->name, sizeof(c->name), "name=%s", o->name);
	snprintf(c->id, sizeof(c->id), "id=%s", o->id);
	snprintf(c->stats, sizeof(c->stats), "stats=%s", stats);
	c->argv[n++] = nbdkit;
	c->argv[n++] = "--foreground";
	c->argv[n++] = "--pidfile";
	c->argv[n++] = pidfile;
	if (s->socket) {
		c->argv[n++] = "--unix";
		c->argv[n++] = s->socket;
	} else {
		snprintf(c->port, sizeof(c->port), "%d", o->port);
		c->argv[n++] = "--ipaddr";
		c->argv[n++] = "127.0.0.1";
		c->argv[n++] = "--port";
		c->argv[n++] = c->port;
	}
	/* the cow filter keeps a writable export's writes in a temporary
	 * overlay: the plugin below it is opened read-only */
	c->argv[n++] = o->writable ? "--filter=cow" : "--readonly";
	c->argv[n++] = plugin;
	c->argv[n++] = c->vault;
	c->argv[n++] = c->name;
	c->argv[n++] = c->id;
	c->argv[n++] = c->stats;
	if (o->disk) {
		snprintf(c->disk, sizeof(c->disk), "disk=%s", o->disk);
		c->argv[n++] = c->disk;
	}
	if (o->cache_bytes) {
		snprintf(c->cache, sizeof(c->cache), "cache=%llu",
			 (unsigned long long)o->cache_bytes);
		c->argv[n++] = c->cache;
	}
	c->argv[n] = NULL;
}

/* In the child of fork(), so async-signal-safe calls only: stdin from
 * /dev/null, output to the log, nothing else inherited; never returns. */
static void exec_nbdkit(const struct nbdkit_cmd *c, const char *log,
			bool exit_with_parent, pid_t parent)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	if (log) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	if (c->key_fd >= 0) {
		if (c->key_fd != KEY_FD)
			dup2(c->key_fd, KEY_FD); /* not close-on-exec */
		else
			fcntl(KEY_FD, F_SETFD, 0);
		close_range(KEY_FD + 1, ~0U, 0);
	} else {
		close_range(3, ~0U, 0);
	}
	if (exit_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) /* it died before prctl */
			_exit(127);
	}
	if (c->envp)
		execve(c->argv[0], (char *const *)c->argv,
		       (char *const *)c->envp);
	else
		execv(c->argv[0], (char *const *)c->argv);
	_exit(127);
}

/* Wait for the pid file (ready) or the child's end (failed). */
static int await_ready(struct sp_served *s, const char *pidfile,
		       struct sp_error *err)
{
	const uint64_t deadline = now_ms() + SERVE_START_TIMEOUT_MS;
	char tail[300];
	int status;

	for (;;) {
		struct stat st;

		if (stat(pidfile, &st) == 0 && st.st_size > 0)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			log_tail(s->log, tail, sizeof(tail));
			return sp_error_set(err, SP_E_SERVE_FAILED,
					    "the NBD server of the point did "
					    "not start%s%s",
					    tail[0] ? ": " : "", tail);
		}
		if (now_ms() > deadline) {
			log_tail(s->log, tail, sizeof(tail));
			return sp_error_set(err, SP_E_SERVE_FAILED,
					    "the NBD server of the point did "
					    "not listen within %d s%s%s",
					    SERVE_START_TIMEOUT_MS / 1000,
					    tail[0] ? ": " : "", tail);
		}
		usleep(20000);
	}
}

static int own_socket(const struct sp_serve_opts *o, struct sp_served *s,
		      struct sp_error *err)
{
	bool other = (o->socket_uid != 0 && o->socket_uid != (uid_t)-1) ||
		     (o->socket_gid != 0 && o->socket_gid != (gid_t)-1);

	if (!s->socket)
		return 0;
	if (other && chown(s->socket, o->socket_uid ?: (uid_t)-1,
			   o->socket_gid ?: (gid_t)-1) < 0)
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
					  "cannot hand socket '%s' to user %u",
					  s->socket, (unsigned)o->socket_uid);
	if (chmod(s->socket,
		  o->socket_gid && o->socket_gid != (gid_t)-1 ? 0660 : 0600) <
	    0)
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
					  "cannot set the mode of socket '%s'",
					  s->socket);
	/* QEMU's user must reach a socket in our private directory. */
	if (other && !o->socket && chmod(s->dir, 0711) < 0)
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
					  "cannot open directory '%s' to the "
					  "socket's user",
					  s->dir);
	return 0;
}

/* Who made private directory @dir: remove_stale_dirs() reads it. */
static void write_owner(const char *dir)
{
	char file[PATH_MAX], text[32];
	int fd, n;

	snprintf(file, sizeof(file), "%s/owner.pid", dir);
	n = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd >= 0) {
		(void)!write(fd, text, (size_t)n);
		close(fd);
	}
}

/* Does @dir/@name name a running process? */
static bool pid_file_alive(const char *dir, const char *name)
{
	char file[PATH_MAX + 16], *text = NULL;
	size_t len;
	long pid;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	if (sp_file_read(AT_FDCWD, file, 64, &text, &len) < 0)
		return false;
	pid = strtol(text, NULL, 10);
	free(text);
	if (pid <= 0)
		return false;
	/* a zombie nobody reaped yet (its parent died) is gone too; /proc
	 * files say size 0, so read, not sp_file_read */
	char stat[512];
	snprintf(file, sizeof(file), "/proc/%ld/stat", pid);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	const char *paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* The private directories of servers that are gone (their parent was
 * killed, so nobody removed them): ours by owner, with a pid file naming
 * a process that no longer runs, or none and older than a start takes. */
static void remove_stale_dirs(void)
{
	DIR *d = opendir("/tmp");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char dir[PATH_MAX], owner[PATH_MAX + 16];
		struct stat st;
		bool gone;

		if (strncmp(de->d_name, "stillpoint-serve-", 17))
			continue;
		snprintf(dir, sizeof(dir), "/tmp/%s", de->d_name);
		if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid())
			continue;
		/* gone: the process that started it and its nbdkit are (a
		 * directory not yet given its owner file is left a while) */
		snprintf(owner, sizeof(owner), "%s/owner.pid", dir);
		gone =
		    !pid_file_alive(dir, "owner.pid") &&
		    !pid_file_alive(dir, "nbdkit.pid") &&
		    (access(owner, F_OK) == 0 || st.st_mtime + 60 < time(NULL));
		if (gone) {
			struct sp_served stale = {.dir = strdup(dir)};
			served_free_files(&stale);
		}
	}
	if (d)
		closedir(d);
}

/* A socket path given by the operator: free, or a stale socket (nobody
 * listens: a server that was killed), removed; anything else refused. */
static int claim_socket(const char *path, struct sp_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return sp_error_set(err, SP_E_SERVE_FAILED,
				    "'%s' exists and is not a socket (give "
				    "another --socket path)",
				    path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return sp_error_set(err, SP_E_USAGE,
				    "socket path '%s' is too long (at most "
				    "%zu bytes)",
				    path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
					  "cannot make a socket");
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return sp_error_set(err, SP_E_SERVE_FAILED,
				    "socket '%s' is in use by another server "
				    "(stop it, or give another --socket path)",
				    path);
	if (unlink(path) < 0 && errno != ENOENT)
		return sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
					  "cannot remove stale socket '%s'",
					  path);
	return 0;
}

int sp_serve_start(const struct sp_serve_opts *o, struct sp_served **ret,
		   struct sp_error *err)
{
	char nbdkit[PATH_MAX], plugin[PATH_MAX], pidfile[PATH_MAX],
	    stats[PATH_MAX], tmpl[] = "/tmp/stillpoint-serve-XXXXXX";
	const pid_t parent = getpid();
	struct nbdkit_cmd cmd = {.key_fd = -1};
	struct sp_served *s;
	int r;

	if (!sp_spawn_find("nbdkit", nbdkit, sizeof(nbdkit)))
		return sp_error_set(err, SP_E_SERVE_FAILED,
				    "cannot find 'nbdkit' (install the nbdkit "
				    "package: tools/setup-debian.sh)");
	if (!find_plugin(plugin, sizeof(plugin)))
		return sp_error_set(
		    err, SP_E_SERVE_FAILED,
		    "cannot find Stillpoint's nbdkit plugin '%s' "
		    "(reinstall Stillpoint, or set "
		    "STILLPOINT_NBDKIT_PLUGIN to its path)",
		    plugin);
	if (o->socket && (r = claim_socket(o->socket, err)) < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s))))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = list_exports(o, &s->exports, &cmd.key_fd, err);
	if (r < 0)
		goto fail;
	remove_stale_dirs();
	if (!mkdtemp(tmpl)) {
		r = sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
				       "cannot make a directory in /tmp");
		goto fail;
	}
	s->dir = strdup(tmpl);
	write_owner(tmpl);
	s->port = o->socket ? 0 : o->port;
	if (o->socket)
		s->socket = strdup(o->socket);
	else if (!o->port && asprintf(&s->socket, "%s/nbd.sock", tmpl) < 0)
		s->socket = NULL;
	if (!o->inherit_stderr && asprintf(&s->log, "%s/nbdkit.log", tmpl) < 0)
		s->log = NULL;
	if (!s->dir || (!o->port && !s->socket) ||
	    (!o->inherit_stderr && !s->log)) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	snprintf(pidfile, sizeof(pidfile), "%s/nbdkit.pid", tmpl);
	snprintf(stats, sizeof(stats), "%s/stats.json", tmpl);
	nbdkit_cmd_make(&cmd, o, nbdkit, plugin, s, pidfile, stats);
	if (cmd.key_fd >= 0 && (r = nbdkit_env_make(&cmd, err)) < 0)
		goto fail;
	s->pid = fork();
	if (s->pid < 0) {
		r = sp_error_set_errno(err, SP_E_SERVE_FAILED, errno,
				       "cannot start nbdkit");
		s->pid = 0;
		goto fail;
	}
	if (s->pid == 0)
		exec_nbdkit(&cmd, s->log, o->exit_with_parent, parent);
	/* nbdkit has its own descriptor of the key now */
	close(cmd.key_fd);
	cmd.key_fd = -1;
	free(cmd.envp);
	cmd.envp = NULL;
	r = await_ready(s, pidfile, err);
	if (r == 0)
		r = own_socket(o, s, err);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	if (cmd.key_fd >= 0)
		close(cmd.key_fd);
	free(cmd.envp);
	sp_serve_stop(s);
	return r;
}

char *sp_served_uri(const struct sp_served *s, const char *export)
{
	char *uri = NULL;

	if (s->socket) {
		if (asprintf(&uri, "nbd+unix:///%s?socket=%s", export,
			     s->socket) < 0)
			return NULL;
	} else if (asprintf(&uri, "nbd://127.0.0.1:%d/%s", s->port, export) <
		   0) {
		return NULL;
	}
	return uri;
}

json_t *sp_serve_stop_stats(struct sp_served *s)
{
	json_t *stats = NULL;
	char path[PATH_MAX];

	if (!s)
		return NULL;
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
	if (s->dir) {
		snprintf(path, sizeof(path), "%s/stats.json", s->dir);
		stats = json_load_file(path, 0, NULL);
	}
	if (s->socket)
		unlink(s->socket);
	served_free(s);
	return stats;
}

void sp_serve_stop(struct sp_served *s)
{
	json_decref(sp_serve_stop_stats(s));
}

/* `stillpoint serve`: the point resolved, served, awaited. */
int sp_serve_run(struct sp_vault *v, const char *location,
		 const struct sp_serve_request *rq, json_t **stats,
		 struct sp_error *err)
{
	struct sp_served *s = NULL;
	json_t *m = NULL, *info, *ex;
	size_t i;
	int r;

	r = sp_vault_find_point(v, rq->point, &m, err);
	if (r < 0)
		return r;
	struct sp_serve_opts o = {
	    .vault = location,
	    .open_vault = v,
	    .name = json_string_value(json_object_get(m, "name")),
	    .id = json_string_value(json_object_get(m, "id")),
	    .disk = rq->disk,
	    .socket = rq->socket,
	    .port = rq->port,
	    .writable = rq->writable,
	    .exit_with_parent = true,
	    .cache_bytes = rq->cache_bytes,
	    .inherit_stderr = true,
	};
	r = sp_serve_start(&o, &s, err);
	if (r < 0) {
		json_decref(m);
		return r;
	}
	info = json_pack("{s:s++, s:b, s:O}", "point", o.name, "@", o.id,
			 "writable", rq->writable, "exports", s->exports);
	if (s->socket)
		json_object_set_new(info, "socket", json_string(s->socket));
	else
		json_object_set_new(info, "port", json_integer(s->port));
	json_array_foreach(json_object_get(info, "exports"), i, ex)
	{
		char *uri = sp_served_uri(
		    s, json_string_value(json_object_get(ex, "export")));

		json_object_set_new(ex, "uri", json_string(uri ? uri : ""));
		free(uri);
	}
	if (rq->ready)
		rq->ready(rq->ctx, info);
	json_decref(info);
	json_decref(m);
	/* Until interrupted, or nbdkit ends on its own (an error). */
	while (!(rq->stop && *rq->stop)) {
		int status;

		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			/* Ctrl-C reaches nbdkit too, maybe first. */
			usleep(50000);
			if (rq->stop && *rq->stop)
				break;
			r = sp_error_set(err, SP_E_SERVE_FAILED,
					 "the NBD server of point '%s' ended "
					 "(status %d; its messages are above)",
					 rq->point, status);
			break;
		}
		usleep(100000);
	}
	json_t *st = sp_serve_stop_stats(s);
	if (stats)
		*stats = st;
	else
		json_decref(st);
	return r;
}
