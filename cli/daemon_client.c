// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Talking to stillpointd over its control socket: `backup DOMAIN --now`
 * queues the job there (it then waits its turn under the daemon's limits)
 * and follows it in the state database until it ends.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <stillpoint/state.h>

#include "cli.h"

const char *cli_daemon_socket(void)
{
	const char *s = getenv("STILLPOINTD_SOCKET");

	return s && *s ? s : SP_DAEMON_SOCKET;
}

int cli_daemon_request(const char *line, char *reply, size_t len)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct pollfd p;
	size_t got = 0;
	int fd;

	if (strlen(cli_daemon_socket()) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, cli_daemon_socket(),
	       strlen(cli_daemon_socket()) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		/* The socket is there but not for us: root's only. */
		return e == EACCES || e == EPERM ? -EACCES : -1;
	}
	/* No SIGPIPE if the daemon went away meanwhile. */
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		goto fail;
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	while (got + 1 < len && poll(&p, 1, 30000) > 0) {
		ssize_t n = read(fd, reply + got, len - got - 1);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\n', got))
			break;
	}
	reply[got] = '\0';
	reply[strcspn(reply, "\n")] = '\0';
	close(fd);
	return got ? 0 : -1;
fail:
	close(fd);
	return -1;
}

int cli_backup_via_daemon(struct cli *cli, const char *domain)
{
	struct sp_state *st = NULL;
	struct sp_error err = {0}, cerr;
	char line[300], reply[600];
	bool cancelled = false;
	long long id;
	int r;
	json_t *j = NULL;
	const char *status;

	snprintf(line, sizeof(line), "backup %s\n", domain);
	r = cli_daemon_request(line, reply, sizeof(reply));
	if (r == -EACCES) {
		sp_error_set(&err, SP_E_DAEMON_PERMISSION,
			     "cannot reach stillpointd on '%s': permission "
			     "denied (it takes requests from root only: run "
			     "the command as root, e.g. with sudo)",
			     cli_daemon_socket());
		return cli_fail(cli, &err);
	}
	if (r < 0)
		return -1;
	if (sscanf(reply, "ok %lld", &id) != 1) {
		/* "error CODE NUMBER message" */
		char code[64] = "";
		int number = 0, off = 0;
		sscanf(reply, "error %63s %d %n", code, &number, &off);
		if (!strcmp(code, "NotProtected"))
			return -1; /* not the daemon's: back it up here */
		sp_error_set(&err, -number, "%s",
			     off ? reply + off : "stillpointd refused the job");
		return cli_fail(cli, &err);
	}
	if (!cli->quiet && !cli->json)
		fprintf(stderr, "stillpoint: job %lld queued in stillpointd\n",
			id);
	if (sp_state_open(NULL, &st, &err) < 0)
		return cli_fail(cli, &err);
	for (;;) {
		json_decref(j);
		j = NULL;
		if (sp_state_job_get(st, id, &j, &err) < 0) {
			sp_state_close(st);
			return cli_fail(cli, &err);
		}
		status = json_string_value(json_object_get(j, "status"));
		if (status && strcmp(status, "queued") &&
		    strcmp(status, "in progress"))
			break;
		if (cli->cancel && *cli->cancel && !cancelled) {
			/* Once, as 'job cancel' does: a queued job ends
			 * here, a running one is told to stop.  One that
			 * ended meanwhile keeps its outcome. */
			cancelled = true;
			if (cli_job_cancel(st, id, NULL, &cerr) == 0)
				continue;
		}
		usleep(200000);
	}
	sp_state_close(st);
	if (cli->json) {
		cli_print_json(json_incref(j));
	} else if (!cli->quiet) {
		const char *pt = json_string_value(json_object_get(j, "point"));
		printf("job %lld %s%s%s%s\n", id, status, pt ? ": point " : "",
		       pt ? domain : "", pt ? "" : "");
		if (pt)
			printf("    %s@%s (%s)\n", domain, pt,
			       json_string_value(
				   json_object_get(j, "consistency")));
	}
	if (json_is_string(json_object_get(j, "code"))) {
		sp_error_set(
		    &err,
		    -(int)json_integer_value(json_object_get(j, "number")),
		    "%s", json_string_value(json_object_get(j, "message")));
		json_decref(j);
		return cli_fail(cli, &err);
	}
	json_decref(j);
	return 0;
}
