// SPDX-License-Identifier: LGPL-2.1-or-later
/* domain_xml_isolate.c: a throwaway boot's definition shares nothing of
 * the original's but its overlays and read-only media, and has no
 * network. */
#include "domain/domain_xml.h"
#include "harness.h"

static const char original[] =
    "<domain type='kvm'>\n"
    "  <name>web01</name>\n"
    "  <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
    "  <memory unit='MiB'>256</memory>\n"
    "  <os><type arch='x86_64'>hvm</type></os>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/libvirt/images/web01.qcow2'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/var/lib/libvirt/images/web01-scratch.img'/>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <source file='/isos/tools.iso'/>\n"
    "      <target dev='sda' bus='sata'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <interface type='bridge'>\n"
    "      <mac address='52:54:00:aa:bb:cc'/>\n"
    "      <source bridge='br0'/>\n"
    "    </interface>\n"
    "    <interface type='network'>\n"
    "      <source network='default'/>\n"
    "    </interface>\n"
    "    <hostdev mode='subsystem' type='pci'>\n"
    "      <source><address domain='0' bus='3' slot='0' "
    "function='0'/></source>\n"
    "    </hostdev>\n"
    "    <filesystem type='mount'>\n"
    "      <source dir='/srv/share'/><target dir='share'/>\n"
    "    </filesystem>\n"
    "    <serial type='file'>\n"
    "      <source path='/var/log/web01-console.log' append='on'/>\n"
    "      <target port='0'/>\n"
    "    </serial>\n"
    "    <serial type='tcp'>\n"
    "      <source mode='bind' host='0.0.0.0' service='4555'/>\n"
    "      <protocol type='telnet'/>\n"
    "      <target port='1'/>\n"
    "    </serial>\n"
    "    <console type='pty'>\n"
    "      <log file='/var/log/web01-pty.log'/>\n"
    "      <target type='serial' port='0'/>\n"
    "    </console>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' path='/run/web01.agent'/>\n"
    "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
    "    </channel>\n"
    "    <channel type='unix'>\n"
    "      <source mode='bind' path='/run/web01.app'/>\n"
    "      <target type='virtio' name='com.example.app'/>\n"
    "    </channel>\n"
    "    <graphics type='vnc' port='5901' autoport='no'/>\n"
    "  </devices>\n"
    "</domain>\n";

static char *isolated(void)
{
	const struct sp_domain_disk_map map = {
	    .target = "vda", .path = "/scratch/vda.qcow2", .format = "qcow2"};
	const struct sp_domain_restore_ids ids = {
	    .uuid = "99999999-8888-7777-6666-555555555555"};
	const char *keep[] = {"vda"};
	struct sp_error err = {0};
	char *renamed = NULL, *out = NULL;

	CHECK_OK(sp_domain_xml_for_restore(original, sizeof(original) - 1,
					   "sp-verify-web01-20261129", &map, 1,
					   &ids, &renamed, &err),
		 &err);
	if (!renamed)
		return NULL;
	CHECK_OK(sp_domain_xml_isolate(renamed, strlen(renamed), "/scratch",
				       keep, 1, &out, &err),
		 &err);
	free(renamed);
	return out;
}

static void test_nothing_shared(void)
{
	char *x = isolated();
	struct sp_domain_def *def = NULL;
	struct sp_error err = {0};

	CHECK(x != NULL);
	if (!x)
		return;
	CHECK_OK(sp_domain_def_parse(x, strlen(x), &def, &err), &err);
	CHECK_STR(def->name, "sp-verify-web01-20261129");
	CHECK_STR(def->uuid, "99999999-8888-7777-6666-555555555555");
	CHECK_INT(def->ninterfaces, 0);
	/* the overlay and the cdrom, emptied; not the scratch disk */
	CHECK_INT(def->ndisks, 2);
	CHECK_STR(def->disks[0].source, "/scratch/vda.qcow2");
	CHECK_STR(def->disks[0].format, "qcow2");
	CHECK_STR(def->disks[1].target, "sda");
	CHECK(def->disks[1].source == NULL); /* an empty drive */
	CHECK(strstr(x, "tools.iso") == NULL);
	CHECK(strstr(x, "web01-scratch.img") == NULL);
	CHECK(strstr(x, "web01.qcow2") == NULL);
	CHECK(strstr(x, "52:54:00:aa:bb:cc") == NULL);
	CHECK(strstr(x, "br0") == NULL);
	CHECK(strstr(x, "<hostdev") == NULL);
	CHECK(strstr(x, "<filesystem") == NULL);
	/* files into the scratch directory, host endpoints cut off */
	CHECK(strstr(x, "/var/log/") == NULL);
	CHECK(strstr(x, "/scratch/serial0.txt") != NULL);
	CHECK(strstr(x, "/scratch/console2-log.txt") != NULL);
	CHECK(strstr(x, "4555") == NULL);
	CHECK(strstr(x, "/run/web01.app") == NULL);
	CHECK(strstr(x, "/run/web01.agent") == NULL);
	CHECK(strstr(x, "org.qemu.guest_agent.0") != NULL);
	CHECK(strstr(x, "5901") == NULL);
	CHECK(strstr(x, "autoport=\"yes\"") != NULL ||
	      strstr(x, "autoport='yes'") != NULL);
	sp_domain_def_free(def);
	free(x);
}

static void test_not_xml(void)
{
	struct sp_error err = {0};
	char *out = NULL;

	CHECK(sp_domain_xml_isolate("<domain", 7, "/s", NULL, 0, &out, &err) <
	      0);
	CHECK(out == NULL);
}

int main(void)
{
	SP_RUN(test_nothing_shared);
	SP_RUN(test_not_xml);
	SP_TEST_EXIT();
}
