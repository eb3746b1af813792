/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault injection for tests that must catch a job at one step (kill -9
 * while the guest is frozen, during a transfer, in the middle of gc):
 * STILLPOINT_TEST_HOLD=STEP:MS makes sp_test_hold("STEP") sleep MS.  Steps:
 * "frozen", "begun" (virDomainBackupBegin returned, the watchdog not yet
 * told), "transfer" (live backups), "slice" (each slice read), "gc"
 * (each gc rename or unlink), "copy" (each chunk a copy stores),
 * "job-created" (a command just made the
 * record of a job it runs), "dispatch" (stillpointd about to start a
 * queued job it listed), "target" (each write of a restored file),
 * "appliance" (the appliance of `files` launched, its watchdog armed).
 * Unset, it costs one getenv.
 */
#ifndef SP_UTIL_FAULT_H
#define SP_UTIL_FAULT_H

void sp_test_hold(const char *step);

#endif
