"""The /proc and /sys paths every unprivileged container has masked or read-only, as docker
sets them: the runtime spec applies them (spec.py) and `inspect` shows them (containers/views.py),
which answers before the runtime's modules load."""

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
