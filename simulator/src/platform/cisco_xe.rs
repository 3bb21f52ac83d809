//! The `cisco_xe` platform: IOS-XE speaks IOS at the CLI (`HOST>`, `enable`, `HOST#`,
//! `terminal length 0`, `--More--`, `% Invalid input`), so [`super::cisco_ios`] runs its
//! lines; what differs is the version it reports and the shape of its configuration
//! (`version 17.9`, `GigabitEthernet1`, in `config_gen`).

use crate::device::Device;

/// `show version` of a Catalyst 8000V on 17.9.
pub(crate) fn version(device: &Device) -> String {
    format!(
        "Cisco IOS XE Software, Version 17.09.04a\n\
         Cisco IOS Software [Cupertino], Virtual XE Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), Version 17.9.4a, RELEASE SOFTWARE (fc3)\n\
         Technical Support: http://www.cisco.com/techsupport\n\
         Copyright (c) 1986-2023 by Cisco Systems, Inc.\n\
         \n\
         {} uptime is 12 weeks, 3 days, 1 hour, 7 minutes\n\
         System image file is \"bootflash:packages.conf\"\n\
         \n\
         cisco C8000V (VXE) processor (revision VXE) with 1987420K/3075K bytes of memory.\n\
         4 Gigabit Ethernet interfaces\n\
         \n\
         Configuration register is 0x2102\n",
        device.name()
    )
}
