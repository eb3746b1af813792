/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A point's disks served over NBD without restoring them: an nbdkit
 * process runs Stillpoint's plugin (nbdkit/), which reads chunks from the
 * vault lazily through a bounded cache.  One export per disk, named by the
 * disk's target ("vda") when the point has one, else by its manifest name;
 * the export "" is the point's first disk.  Read-only unless @writable,
 * whose writes land in a temporary overlay (nbdkit's cow filter) and never
 * in the vault.
 *
 * `stillpoint serve` runs one in the foreground; `files`, instant recovery
 * and `verify --boot` start one with sp_serve_start() and connect to its
 * Unix socket ("nbd+unix:///vda?socket=PATH").
 */
#ifndef SP_JOB_SERVE_H
#define SP_JOB_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "util/error.h"

struct sp_vault;

struct sp_serve_opts {
	const char *vault; /* the location, as given to --vault */
	/* The same vault already open, to read the manifest from (may be
	 * NULL: it is opened and closed again).  The server opens its own. */
	struct sp_vault *open_vault;
	const char *name; /* the point: VM name ... */
	const char *id;	  /* ... and its id (resolved, not "latest") */
	const char *disk; /* one disk (target or name); NULL: every disk */
	/* A Unix socket path; NULL (and no port): a fresh socket in a
	 * private directory, removed by sp_serve_stop(). */
	const char *socket;
	int port;	       /* TCP port on 127.0.0.1 instead; 0: none */
	bool writable;	       /* writes to a temporary overlay */
	bool exit_with_parent; /* nbdkit ends when the caller's process does */
	uint64_t cache_bytes;  /* decoded chunks kept; 0: the default */
	/* Owner of the socket (QEMU's user for libvirt guests); -1: the
	 * caller's.  The socket is mode 0600 (0660 with a group). */
	uid_t socket_uid;
	gid_t socket_gid;
	/* nbdkit's messages to our stderr (`stillpoint serve`); otherwise
	 * to a log file in the private directory, quoted in errors. */
	bool inherit_stderr;
};

struct sp_served {
	pid_t pid;    /* the nbdkit process */
	char *socket; /* its Unix socket (NULL when serving on a port) */
	int port;     /* or its TCP port on 127.0.0.1 */
	/* [{"export": "vda", "name": ..., "size": N, "format": "raw"|...}]:
	 * every export is the disk's guest-visible bytes (raw), whatever
	 * format the source had ("format" says what it had). */
	json_t *exports;
	char *dir; /* the private directory (pid file, log, stats) */
	char *log; /* nbdkit's log in it (NULL with inherit_stderr) */
};

/*
 * Start serving and return once the server accepts connections.
 * Errors: SP_E_POINT_NOT_FOUND, SP_E_USAGE (no such disk),
 * SP_E_SERVE_FAILED (nbdkit missing or did not start; its message).
 */
int sp_serve_start(const struct sp_serve_opts *o, struct sp_served **ret,
		   struct sp_error *err);
/* The export name of manifest disk entry @d: its "target", else its
 * "name". */
const char *sp_serve_export_name(json_t *d);
/* The NBD URI of export @export ("nbd+unix:///vda?socket=..."); malloc'd. */
char *sp_served_uri(const struct sp_served *s, const char *export);
/* Stop the server (SIGTERM, then wait), remove its socket and directory. */
void sp_serve_stop(struct sp_served *s);
/* The same, returning what the server read from the vault while it ran:
 * {"chunks_read": N, "bytes_read": N (stored bytes fetched), "cache_hits":
 * N}, or NULL when it did not say (killed). */
json_t *sp_serve_stop_stats(struct sp_served *s);

#endif
