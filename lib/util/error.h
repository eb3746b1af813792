/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The error pattern is public API: see <stillpoint/error.h>. */
#include <stillpoint/error.h>
