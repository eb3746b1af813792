// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * labfw: firmware state from inside a lab guest, for the tests of NVRAM
 * and TPM state in points (the guest has busybox only: no efivar, no
 * tpm2-tools).
 *
 *   labfw efi-set NAME-GUID VALUE   set a UEFI variable (non-volatile,
 *                                   boot and runtime access) to VALUE
 *   labfw efi-get NAME-GUID         print its value; exit 1 when unset
 *   labfw tpm-nv-set INDEX VALUE    define (once) a 32-byte NV index of the
 *                                   TPM 2.0 owner hierarchy (empty owner
 *                                   auth) and write VALUE into it
 *   labfw tpm-nv-get INDEX          print the NV index's value (to its
 *                                   first NUL); exit 1 when undefined
 *
 * The UEFI variable goes through efivarfs (/sys/firmware/efi/efivars):
 * the firmware writes it to its NVRAM, which QEMU keeps in the domain's
 * NVRAM file.  The TPM commands go raw to /dev/tpmrm0 (or /dev/tpm0) with
 * a password session; swtpm writes NV changes to its state file at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/fs.h>

#define EFIVARS "/sys/firmware/efi/efivars/"
#define NV_SIZE 32

static int usage(void)
{
	fprintf(stderr, "usage: labfw efi-set NAME-GUID VALUE | efi-get "
			"NAME-GUID | tpm-nv-set INDEX VALUE | tpm-nv-get "
			"INDEX\n");
	return 2;
}

static int efi_set(const char *var, const char *value)
{
	char path[512];
	uint8_t buf[4 + 1024];
	size_t n = strlen(value);
	int fd, flags;

	if (n > 1024)
		return usage();
	snprintf(path, sizeof(path), EFIVARS "%s", var);
	/* efivarfs makes existing variables immutable: lift that first. */
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
		    (flags & FS_IMMUTABLE_FL)) {
			flags &= ~FS_IMMUTABLE_FL;
			if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
				perror("labfw: chattr -i");
		}
		close(fd);
	}
	/* NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS, then the
	 * data: one write, as efivarfs wants. */
	buf[0] = 0x07;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, value, n);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || write(fd, buf, 4 + n) != (ssize_t)(4 + n)) {
		fprintf(stderr, "labfw: cannot set %s: %s\n", var,
			strerror(errno));
		return 1;
	}
	return close(fd) == 0 ? 0 : 1;
}

static int efi_get(const char *var)
{
	char path[512];
	uint8_t buf[4 + 1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), EFIVARS "%s", var);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 4)
		return 1;
	fwrite(buf + 4, 1, (size_t)n - 4, stdout);
	putchar('\n');
	return 0;
}

/* ---- TPM 2.0, raw ---- */

static uint8_t cmd[512];
static size_t len;

static void put8(uint8_t v)
{
	cmd[len++] = v;
}
static void put16(uint16_t v)
{
	put8((uint8_t)(v >> 8));
	put8((uint8_t)v);
}
static void put32(uint32_t v)
{
	put16((uint16_t)(v >> 16));
	put16((uint16_t)v);
}

static void begin(uint32_t cc)
{
	len = 0;
	put16(0x8002); /* TPM_ST_SESSIONS */
	put32(0);      /* size, set by run() */
	put32(cc);
}

/* A password session with the empty password. */
static void pw_session(void)
{
	put32(9);	   /* authorizationSize */
	put32(0x40000009); /* TPM_RS_PW */
	put16(0);	   /* nonce */
	put8(0);	   /* sessionAttributes */
	put16(0);	   /* hmac: the empty password */
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Send the command; the response into @rsp; its response code. */
static int64_t run(uint8_t *rsp, size_t cap, size_t *rlen)
{
	ssize_t n;
	int fd = open("/dev/tpmrm0", O_RDWR);

	if (fd < 0)
		fd = open("/dev/tpm0", O_RDWR);
	if (fd < 0) {
		perror("labfw: /dev/tpm0");
		return -1;
	}
	cmd[2] = (uint8_t)(len >> 24);
	cmd[3] = (uint8_t)(len >> 16);
	cmd[4] = (uint8_t)(len >> 8);
	cmd[5] = (uint8_t)len;
	if (write(fd, cmd, len) != (ssize_t)len) {
		perror("labfw: write to the TPM");
		close(fd);
		return -1;
	}
	n = read(fd, rsp, cap);
	close(fd);
	if (n < 10) {
		fprintf(stderr, "labfw: short TPM response\n");
		return -1;
	}
	*rlen = (size_t)n;
	return get32(rsp + 6);
}

static int tpm_nv_set(uint32_t index, const char *value)
{
	uint8_t rsp[512], data[NV_SIZE] = {0};
	size_t rlen, n = strlen(value);
	int64_t rc;

	if (n > NV_SIZE)
		return usage();
	memcpy(data, value, n);
	begin(0x0000012A); /* TPM2_NV_DefineSpace */
	put32(0x40000001); /* TPM_RH_OWNER */
	pw_session();
	put16(0);  /* auth of the index: empty */
	put16(14); /* TPM2B_NV_PUBLIC */
	put32(index);
	put16(0x000B);	   /* nameAlg SHA-256 */
	put32(0x02060006); /* OWNERWRITE|AUTHWRITE|OWNERREAD|AUTHREAD|NO_DA */
	put16(0);	   /* authPolicy */
	put16(NV_SIZE);
	rc = run(rsp, sizeof(rsp), &rlen);
	if (rc != 0 && rc != 0x14C) { /* TPM_RC_NV_DEFINED */
		fprintf(stderr, "labfw: NV_DefineSpace: 0x%llx\n",
			(long long)rc);
		return 1;
	}
	begin(0x00000137); /* TPM2_NV_Write */
	put32(index);	   /* authHandle: the index itself */
	put32(index);
	pw_session();
	put16(NV_SIZE);
	for (size_t i = 0; i < NV_SIZE; i++)
		put8(data[i]);
	put16(0); /* offset */
	rc = run(rsp, sizeof(rsp), &rlen);
	if (rc != 0) {
		fprintf(stderr, "labfw: NV_Write: 0x%llx\n", (long long)rc);
		return 1;
	}
	return 0;
}

static int tpm_nv_get(uint32_t index)
{
	uint8_t rsp[512];
	size_t rlen, n;
	int64_t rc;

	begin(0x0000014E); /* TPM2_NV_Read */
	put32(index);
	put32(index);
	pw_session();
	put16(NV_SIZE);
	put16(0);
	rc = run(rsp, sizeof(rsp), &rlen);
	if (rc != 0)
		return 1;
	/* header 10, parameterSize 4, then the TPM2B */
	if (rlen < 16)
		return 1;
	n = (size_t)rsp[14] << 8 | rsp[15];
	if (16 + n > rlen)
		return 1;
	for (size_t i = 0; i < n && rsp[16 + i]; i++)
		putchar(rsp[16 + i]);
	putchar('\n');
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "efi-set"))
		return efi_set(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "efi-get"))
		return efi_get(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "tpm-nv-set"))
		return tpm_nv_set((uint32_t)strtoul(argv[2], NULL, 0), argv[3]);
	if (argc == 3 && !strcmp(argv[1], "tpm-nv-get"))
		return tpm_nv_get((uint32_t)strtoul(argv[2], NULL, 0));
	return usage();
}
