// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: OpenVPN's data channel in the kernel.
 *
 * Module entry points. This first version only proves the build and load
 * path of the VM lab; the device kind and netlink family follow.
 */

#include <linux/module.h>
#include <linux/kernel.h>

#define OVPN_SHORTCUT_VERSION "0.1.0"

static int __init ovpn_shortcut_init(void)
{
	pr_info("ovpn_shortcut: loaded, version %s\n", OVPN_SHORTCUT_VERSION);
	return 0;
}

static void __exit ovpn_shortcut_exit(void)
{
	pr_info("ovpn_shortcut: unloaded\n");
}

module_init(ovpn_shortcut_init);
module_exit(ovpn_shortcut_exit);

MODULE_DESCRIPTION("OpenVPN data channel offload (ovpn-shortcut)");
MODULE_LICENSE("GPL");
MODULE_VERSION(OVPN_SHORTCUT_VERSION);
