// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `vssadmin list writers` output (vss_writers.h), line by line: a
 * "Writer name:" line opens a writer, the indented lines after it fill it.
 * Labels are matched in English (ASCII case-insensitively) and Japanese,
 * with an ASCII or full-width colon; anything else — the banner, blank
 * lines, labels of other languages — is skipped.  Every input is parsed
 * without reading past @len, whatever bytes it holds.
 */
#include "writer/vss_writers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

enum field {
	F_NONE,
	F_NAME,
	F_ID,
	F_INSTANCE_ID,
	F_STATE,
	F_LAST_ERROR,
};

static const struct label {
	const char *text;
	enum field field;
} labels[] = {
    {"Writer name", F_NAME},
    {"Writer Instance Id", F_INSTANCE_ID},
    {"Writer Id", F_ID},
    {"State", F_STATE},
    {"Last error", F_LAST_ERROR},
    {"ライター名", F_NAME},
    {"ライター インスタンス ID", F_INSTANCE_ID},
    {"ライター ID", F_ID},
    {"状態", F_STATE},
    {"最後のエラー", F_LAST_ERROR},
};

static const char *const state_words[] = {
    "unknown",
    "stable",
    "waiting for freeze",
    "waiting for thaw",
    "waiting for post-snapshot",
    "waiting for completion",
    "failed at identify",
    "failed at prepare backup",
    "failed at prepare snapshot",
    "failed at freeze",
    "failed at thaw",
    "failed at post-snapshot",
    "failed at backup complete",
    "failed at pre-restore",
    "failed at post-restore",
    "failed at backup shutdown",
};

const char *sp_vss_state_describe(int state)
{
	if (state >= 0 && (size_t)state < SP_ARRAY_SIZE(state_words))
		return state_words[state];
	return "unknown";
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * If [@p, @end) starts with @label, optional blanks and a colon (':' or
 * the full-width U+FF1A), return where the value starts; else NULL.
 */
static const char *match_label(const char *p, const char *end,
			       const char *label)
{
	for (; *label; label++, p++)
		if (p >= end || ascii_lower(*p) != ascii_lower(*label))
			return NULL;
	while (p < end && is_blank(*p))
		p++;
	if (p < end && *p == ':')
		return p + 1;
	if (end - p >= 3 && memcmp(p, "\xef\xbc\x9a", 3) == 0)
		return p + 3;
	return NULL;
}

/* A copy of [@p, @end) without surrounding blanks. */
static char *dup_trimmed(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	while (end > p && is_blank(end[-1]))
		end--;
	return strndup(p, (size_t)(end - p));
}

/* 'Name' -> Name: the quotes vssadmin prints around a writer's name. */
static char *dup_name(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	while (end > p && is_blank(end[-1]))
		end--;
	if (end - p >= 2 && *p == '\'' && end[-1] == '\'') {
		p++;
		end--;
	}
	return strndup(p, (size_t)(end - p));
}

/* "[8] Failed" -> 8 and "Failed"; no bracketed number -> -1 and all. */
static char *parse_state(const char *p, const char *end, int *state)
{
	const char *q;
	int n = 0;

	*state = -1;
	while (p < end && is_blank(*p))
		p++;
	if (p >= end || *p != '[')
		return dup_trimmed(p, end);
	for (q = p + 1; q < end && *q >= '0' && *q <= '9' && n < 100000; q++)
		n = n * 10 + (*q - '0');
	if (q == p + 1 || q >= end || *q != ']')
		return dup_trimmed(p, end);
	*state = n;
	return dup_trimmed(q + 1, end);
}

static void writer_release(struct sp_vss_writer *w)
{
	free(w->name);
	free(w->id);
	free(w->instance_id);
	free(w->state_text);
	free(w->last_error);
}

void sp_vss_writers_free(struct sp_vss_writer *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++)
		writer_release(&w[i]);
	free(w);
}

/* The list being built; the last entry is the writer being filled. */
struct list {
	struct sp_vss_writer *v;
	size_t n, cap;
};

/* A finished writer: drop it if nameless, fill absent texts with "". */
static int finish(struct list *l)
{
	struct sp_vss_writer *w;

	if (!l->n)
		return 0;
	w = &l->v[l->n - 1];
	if (!w->name || !w->name[0]) {
		writer_release(w);
		l->n--;
		return 0;
	}
	if (!w->id && !(w->id = strdup("")))
		return -1;
	if (!w->state_text && !(w->state_text = strdup("")))
		return -1;
	if (!w->last_error && !(w->last_error = strdup("")))
		return -1;
	return 0;
}

static int open_writer(struct list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sp_vss_writer *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct sp_vss_writer){.state = -1};
	return 0;
}

/* One line, without its '\n'. */
static int parse_line(struct list *l, const char *p, const char *end)
{
	struct sp_vss_writer *w;
	const char *value = NULL;
	enum field f = F_NONE;
	char **slot;

	while (p < end && is_blank(*p))
		p++;
	for (size_t i = 0; i < SP_ARRAY_SIZE(labels) && !value; i++) {
		value = match_label(p, end, labels[i].text);
		f = labels[i].field;
	}
	if (!value)
		return 0;
	if (f == F_NAME) {
		if (finish(l) < 0 || open_writer(l) < 0)
			return -1;
		w = &l->v[l->n - 1];
		w->name = dup_name(value, end);
		return w->name ? 0 : -1;
	}
	if (!l->n)
		return 0; /* before the first writer: not ours */
	w = &l->v[l->n - 1];
	switch (f) {
	case F_ID:
		slot = &w->id;
		break;
	case F_INSTANCE_ID:
		slot = &w->instance_id;
		break;
	case F_STATE:
		slot = &w->state_text;
		break;
	case F_LAST_ERROR:
		slot = &w->last_error;
		break;
	default:
		return 0;
	}
	/* A repeated line replaces the earlier one. */
	free(*slot);
	*slot = f == F_STATE ? parse_state(value, end, &w->state)
			     : dup_trimmed(value, end);
	return *slot ? 0 : -1;
}

int sp_vss_writers_parse(const char *text, size_t len,
			 struct sp_vss_writer **ret, size_t *n,
			 struct sp_error *err)
{
	struct list l = {0};
	const char *p = text, *end = text + len;

	*ret = NULL;
	*n = 0;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		if (parse_line(&l, p, eol) < 0)
			goto out_nomem;
		p = nl ? nl + 1 : end;
	}
	if (finish(&l) < 0)
		goto out_nomem;
	if (!l.n) {
		free(l.v);
		return 0;
	}
	*ret = l.v;
	*n = l.n;
	return 0;

out_nomem:
	sp_vss_writers_free(l.v, l.n);
	return sp_error_set(err, SP_E_NOMEM, "out of memory");
}
