// The tiny guest's boot scripts.  /init runs from the initramfs: it loads the virtio
// modules and either switches to the root disk (gc.root=/dev/vda) or stays in RAM.
// /sbin/gc-rc then brings up the network with a static address (QEMU user net always
// gives 10.0.2.15; DHCP would only add waiting), installs the lab's public key from the
// kernel command line, and busybox init keeps dropbear running.  Lines starting "gc:" on
// the serial console mark progress; boot failures show them.

/** Modules in load order (from `modprobe --show-depends` of the cloud kernel). */
export const VIRTIO_MODULES = [
  'virtio_ring',
  'virtio',
  'failover',
  'net_failover',
  'virtio_net',
  'virtio_blk',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'virtio_balloon',
  'virtio-rng',
  // The kit's shell on a virtio-serial port (gc-shell): a resume asks each layer through it, no SSH handshake.
  'virtio_console',
  // The power button, so QMP system_powerdown reaches acpid and the guest powers off cleanly.
  'button',
  'evdev',
];

/**
 * Just what mounting a virtio root disk needs.  The small initramfs for disk roots holds
 * only these and busybox (1.2 MB instead of 3.4): ~0.3 s less to unpack and load under TCG.
 */
export const ROOT_DISK_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk'];

export const INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "gc: init" > /dev/console
for m in $(cat /etc/gc/modules); do insmod /lib/modules/gc/$m.ko 2>/dev/null; done
arg() { sed -n "s/.*\\\\<$1=\\\\([^ ]*\\\\).*/\\\\1/p" /proc/cmdline; }
root=$(arg gc.root)
if [ -n "$root" ]; then
  i=0
  while [ ! -b "$root" ] && [ $i -lt 200 ]; do usleep 10000; i=$((i+1)); done
  mkdir -p /newroot
  if mount -t ext4 -o rw "$root" /newroot; then
    mount --move /proc /newroot/proc
    mount --move /sys /newroot/sys
    mount --move /dev /newroot/dev
    echo "gc: root $root" > /dev/console
    exec switch_root /newroot /sbin/init
  fi
  echo "gc: cannot mount $root; staying in the initramfs" > /dev/console
fi
exec /sbin/init
`;

export const RC = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
arg() { sed -n "s/.*\\\\<$1=\\\\([^ ]*\\\\).*/\\\\1/p" /proc/cmdline; }
mountpoint_() { grep -q " $1 " /proc/mounts; }
mountpoint_ /proc || mount -t proc proc /proc
mountpoint_ /sys || mount -t sysfs sys /sys
mountpoint_ /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /tmp /run /root/.ssh
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
# A disk root's initramfs loaded only the disk's modules; the rest load here.  One check,
# not one per module: every fork costs milliseconds under TCG.
if ! grep -q '^virtio_net ' /proc/modules; then
  for m in $(cat /etc/gc/modules-late); do insmod /lib/modules/gc/$m.ko 2>/dev/null; done
fi
h=$(arg gc.hostname)
hostname "\${h:-tiny}"
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "nameserver 10.0.2.3" > /etc/resolv.conf
key=$(arg gc.authkey)
# gc.sshdrop=N (fault tests): the key's first N commands end their own connection.
drop=$(arg gc.sshdrop)
[ -z "$drop" ] || forced="command=\\"/sbin/gc-sshdrop $drop\\" "
if [ -n "$key" ]; then
  echo "$forced$key" | sed 's/:/ /' > /root/.ssh/authorized_keys
fi
chmod 700 /root /root/.ssh
chmod 600 /root/.ssh/authorized_keys 2>/dev/null
acpid -c /etc/acpi -a /etc/acpid.conf 2>/dev/null
echo "gc: network up, sshd starting" > /dev/console
`;

/** sshd, unless the kernel command line says gc.nossh: a guest that never answers SSH, for fault tests. */
export const SSHD = `#!/bin/sh
if grep -qw gc.nossh /proc/cmdline; then
  echo "gc: gc.nossh given, no sshd" > /dev/console
  while :; do sleep 3600; done
fi
exec /usr/sbin/dropbear -F -E -s -r /etc/dropbear/dropbear_ed25519_host_key -p 22
`;

/**
 * gc.sshdrop=N, for fault tests: the lab key's forced command (authorized_keys' command=).  Its
 * first N commands kill the dropbear process serving their connection, as a dropbear that
 * drops a session mid-exec would; later ones run as asked.  (A forced command replaces SFTP too.)
 */
export const SSHDROP = `#!/bin/sh
n=$(cat /run/gc-sshdrop 2>/dev/null || echo 0)
if [ "$n" -lt "$1" ]; then
  echo $((n + 1)) > /run/gc-sshdrop
  p=$PPID
  while [ "$(cat /proc/$p/comm)" != dropbear ]; do read -r _ _ _ p _ < /proc/$p/stat; done
  echo "gc: gc.sshdrop: ended connection $p at its command" > /dev/console
  kill -9 $p
fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
`;

/**
 * A root shell on the virtio-serial port named gc.shell, when the VM has one (the kit's QEMU
 * gives kit images a `-chardev pipe` there: FIFOs in the VM's 0700 folder, as private as its
 * QMP socket, which can do anything to the VM already).  The kit writes command lines into it
 * and reads their output to an end mark (console/port-shell.ts) — the NixOS test driver's
 * backdoor shell on a virtio console, without a handshake: after a resume each layer answers
 * in a few hundred ms, where a fresh SSH handshake into a nested guest under TCG takes about a
 * second.  A virtio port opens once, so stdin and stdout are one open (<>).  The port appears
 * a moment after its module loads; a VM without one runs nothing here.  The kit's Debian
 * images run the same script as a systemd service (PORT_SHELL_UNIT).
 */
export const PORT_SHELL = `#!/bin/sh
i=0
while [ $i -lt 100 ]; do
  for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = gc.shell ] && exec sh <>"/dev/\${d##*/}" >&0 2>&0
  done
  sleep 0.05
  i=$((i+1))
done
while :; do sleep 86400; done
`;

/** The port shell in the kit's Debian images, where systemd keeps it running. */
export const PORT_SHELL_UNIT = `[Unit]
Description=grainchart: the kit's shell on the virtio-serial port gc.shell

[Service]
ExecStart=/usr/local/sbin/gc-shell
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;

export const INITTAB = `::sysinit:/sbin/gc-rc
::respawn:/sbin/gc-sshd
::respawn:/sbin/gc-shell
::ctrlaltdel:/sbin/poweroff
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
`;

/** busybox acpid: on the power button (ACPI PWRF) it runs /etc/acpi/power-button (a file, not a command). */
export const ACPID_CONF = `PWRF power-button
`;

export const FILES: Record<string, { text: string; mode: number }> = {
  init: { text: INIT, mode: 0o755 },
  'sbin/gc-rc': { text: RC, mode: 0o755 },
  'sbin/gc-sshd': { text: SSHD, mode: 0o755 },
  'sbin/gc-sshdrop': { text: SSHDROP, mode: 0o755 },
  'sbin/gc-shell': { text: PORT_SHELL, mode: 0o755 },
  'etc/inittab': { text: INITTAB, mode: 0o644 },
  'etc/acpid.conf': { text: ACPID_CONF, mode: 0o644 },
  'etc/acpi/power-button': { text: '#!/bin/sh\necho "gc: power button, powering off" > /dev/console\nexec /sbin/poweroff\n', mode: 0o755 },
  'etc/passwd': { text: 'root:x:0:0:root:/root:/bin/sh\n', mode: 0o644 },
  'etc/group': { text: 'root:x:0:\n', mode: 0o644 },
  // dropbear refuses users whose shell is not listed here.
  'etc/shells': { text: '/bin/sh\n/bin/ash\n', mode: 0o644 },
  'etc/shadow': { text: 'root:*:19000:0:99999:7:::\n', mode: 0o600 },
  'etc/gc/modules': { text: `${VIRTIO_MODULES.join('\n')}\n`, mode: 0o644 },
  'etc/gc/modules-late': { text: `${VIRTIO_MODULES.filter((m) => !ROOT_DISK_MODULES.includes(m)).join('\n')}\n`, mode: 0o644 },
};
