"""generate_spec: docker's defaults and override rules, checked on the generated config."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.identity import resolve_user
from dockyard.runtime.spec import Mount, RunOptions, Ulimit, command, generate_spec, lookup_user

DOCKER_CAPS = sorted([
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
])


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n"
                                "app:x:1000:1000::/home/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nwheel:x:10:root\nwww:x:33:\napp:x:1000:\n"
                               "audio:x:29:app,web\nstaff:x:50:\n")
    return str(tmp_path)


def spec_for(rootfs: str, **kw) -> dict:
    kw.setdefault("cmd", ["sh"])
    return generate_spec(RunOptions(container_id="abc123def4567890", **kw), {}, rootfs)


def test_default_capabilities_are_dockers_fourteen(rootfs):
    caps = spec_for(rootfs)["process"]["capabilities"]
    assert sorted(caps["bounding"]) == DOCKER_CAPS
    assert caps["effective"] == caps["permitted"] == caps["bounding"]
    assert "ambient" not in caps and "inheritable" not in caps


def test_cap_add_drop_and_all(rootfs):
    caps = spec_for(rootfs, cap_add=["net_admin"], cap_drop=["MKNOD", "cap_chown"])
    bounding = caps["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in bounding and "CAP_MKNOD" not in bounding
    assert "CAP_CHOWN" not in bounding
    only = spec_for(rootfs, cap_drop=["ALL"], cap_add=["NET_BIND_SERVICE"])
    assert only["process"]["capabilities"]["bounding"] == ["CAP_NET_BIND_SERVICE"]
    with pytest.raises(InvalidArgument):
        spec_for(rootfs, cap_add=["CAP_FLY"])


def test_masked_and_readonly_paths_are_dockers(rootfs):
    linux = spec_for(rootfs)["linux"]
    assert sorted(linux["maskedPaths"]) == sorted([
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware"])
    assert linux["readonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"]
    unconfined = spec_for(rootfs, security_opt=["systempaths=unconfined"])["linux"]
    assert unconfined["maskedPaths"] == [] and unconfined["readonlyPaths"] == []


def test_privileged_gets_everything_and_no_filters(rootfs):
    spec = spec_for(rootfs, privileged=True)
    assert len(spec["process"]["capabilities"]["bounding"]) > 30
    assert "seccomp" not in spec["linux"]
    assert spec["linux"]["maskedPaths"] == []
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


@pytest.mark.parametrize("image, entrypoint, cmd, expected", [
    ({"Cmd": ["nginx", "-g", "daemon off;"]}, None, None, ["nginx", "-g", "daemon off;"]),
    ({"Cmd": ["sh"]}, None, ["echo", "hi"], ["echo", "hi"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--help"]}, None, None, ["/init", "--help"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--help"]}, None, ["run"], ["/init", "run"]),
    # an explicit entrypoint drops the image's Cmd
    ({"Entrypoint": ["/init"], "Cmd": ["--help"]}, ["/bin/sh"], None, ["/bin/sh"]),
    ({"Entrypoint": ["/init"], "Cmd": ["--help"]}, ["/bin/sh", "-c"], ["ls"], ["/bin/sh", "-c", "ls"]),
    # --entrypoint "" clears the image's entrypoint and keeps its Cmd
    ({"Entrypoint": ["/init"], "Cmd": ["ls"]}, [""], None, ["ls"]),
])
def test_entrypoint_and_cmd_override_rules(image, entrypoint, cmd, expected):
    assert command(RunOptions(entrypoint=entrypoint, cmd=cmd), image) == expected


def test_no_command_is_an_error():
    with pytest.raises(InvalidArgument, match="no command"):
        command(RunOptions(), {})


def test_env_merge_order_and_defaults(rootfs):
    spec = generate_spec(RunOptions(container_id="abcdef1234567890", env=["A=2", "B=3"], tty=True),
                         {"Cmd": ["sh"], "Env": ["A=1", "PATH=/opt/bin"]}, rootfs)
    # Docker's order: its defaults replaced in place, the rest after, HOME last (as runc adds it)
    assert spec["process"]["env"] == ["PATH=/opt/bin", "HOSTNAME=abcdef123456", "TERM=xterm", "A=2",
                                      "B=3", "HOME=/root"]
    plain = spec_for(rootfs)["process"]["env"]
    assert plain == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                     "HOSTNAME=abc123def456", "HOME=/root"]
    assert spec_for(rootfs, user="app", env=["HOME=/srv", "HOSTNAME"])["process"]["env"][1:] == ["HOME=/srv"]


@pytest.mark.parametrize("user, expected", [
    ("", {"uid": 0, "gid": 0, "additionalGids": [0, 10]}),
    ("app", {"uid": 1000, "gid": 1000, "additionalGids": [1000, 29]}),
    ("1000", {"uid": 1000, "gid": 1000, "additionalGids": [1000, 29]}),
    ("web:staff", {"uid": 33, "gid": 50, "additionalGids": [50]}),
    ("4242:4343", {"uid": 4242, "gid": 4343, "additionalGids": [4343]}),
    ("4242", {"uid": 4242, "gid": 0, "additionalGids": [0]}),
])
def test_user_resolution(rootfs, user, expected):
    assert resolve_user(user, rootfs) == expected


@pytest.mark.parametrize("user, home", [("", "/root"), ("app", "/home/app"), ("33:50", "/var/www"), ("4242", "/")])
def test_home_is_the_users_or_slash(rootfs, user, home):
    assert lookup_user(user, rootfs)[1] == home


def test_user_errors_and_group_add(rootfs):
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        resolve_user("ghost", rootfs)
    with pytest.raises(InvalidArgument, match="unable to find group"):
        resolve_user("app:ghosts", rootfs)
    assert resolve_user("web", rootfs, ["staff", "77"])["additionalGids"] == [33, 29, 50, 77]


def test_user_lookup_stays_inside_the_rootfs(tmp_path):
    (tmp_path / "etc").symlink_to("/etc")  # absolute link: must resolve to rootfs/etc
    with pytest.raises(InvalidArgument):
        resolve_user("root", str(tmp_path))


def test_resources(rootfs):
    res = spec_for(rootfs, memory=32 << 20, nano_cpus=500_000_000, cpu_shares=512,
                   cpuset_cpus="0", pids_limit=20)["linux"]["resources"]
    assert res["memory"] == {"limit": 32 << 20, "swap": 64 << 20}
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 50000, "cpus": "0"}
    assert res["pids"] == {"limit": 20}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in res["devices"]
    assert res["devices"][0] == {"allow": False, "access": "rwm"}


def test_mounts_namespaces_and_process_details(rootfs):
    spec = spec_for(rootfs, shm_size=1 << 20, tmpfs={"/run": "size=1m"}, hosts_path="/x/hosts",
                    mounts=[Mount(target="/data", source="/srv/data", read_only=True)],
                    netns_path="/run/netns/n1", ulimits=[Ulimit("nofile", 100, 200)],
                    readonly_rootfs=True, security_opt=["no-new-privileges"])
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert "size=1024k" in by_dest["/dev/shm"]["options"]
    assert by_dest["/run"]["options"] == ["noexec", "nosuid", "nodev", "size=1m"]
    assert by_dest["/data"] == {"destination": "/data", "type": "bind", "source": "/srv/data",
                                "options": ["rbind", "rprivate", "ro"]}
    assert by_dest["/etc/hosts"]["source"] == "/x/hosts"
    assert by_dest["/sys/fs/cgroup"]["type"] == "cgroup"
    kinds = {ns["type"]: ns.get("path") for ns in spec["linux"]["namespaces"]}
    assert kinds == {"mount": None, "pid": None, "ipc": None, "uts": None,
                     "network": "/run/netns/n1", "cgroup": None}
    assert spec["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]
    assert spec["root"] == {"path": rootfs, "readonly": True}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["linux"]["cgroupsPath"] == "/dockyard/abc123def4567890"
    assert spec["hostname"] == "abc123def456"


def test_host_network_shares_uts_and_userns_maps(rootfs):
    spec = spec_for(rootfs, network_mode="host", uid_maps=[(0, 100000, 65536)])
    kinds = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert "network" not in kinds and "uts" not in kinds and "user" in kinds
    assert "hostname" not in spec
    assert spec["linux"]["uidMappings"] == spec["linux"]["gidMappings"] == [
        {"containerID": 0, "hostID": 100000, "size": 65536}]


def test_seccomp_default_and_unconfined(rootfs):
    seccomp = spec_for(rootfs)["linux"]["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {n for r in seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
               for n in r["names"]}
    assert {"read", "write", "execve", "clone3"} - allowed == {"clone3"}
    assert "mount" not in allowed and "unshare" not in allowed
    admin = spec_for(rootfs, cap_add=["SYS_ADMIN"])["linux"]["seccomp"]
    assert any("mount" in r["names"] for r in admin["syscalls"])
    assert "seccomp" not in spec_for(rootfs, security_opt=["seccomp=unconfined"])["linux"]
    with pytest.raises(InvalidArgument):
        spec_for(rootfs, security_opt=["bogus=1"])
