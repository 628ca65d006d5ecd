"""What the runtime refuses before setting anything up: config fields it cannot apply
(checks.py) and malformed hooks (hooks.py), each named in the error; and hooks run with
the state on stdin, their args, env and timeout."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.runtime import checks, hooks


def spec(**linux) -> dict:
    return {"process": {"args": ["true"], "capabilities": {"bounding": ["CAP_CHOWN"]}},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}], **linux}}


def test_a_plain_config_passes():
    checks.check(spec(rootfsPropagation="rslave"))


@pytest.mark.parametrize("change, field", [
    (lambda s: s["linux"]["namespaces"].append({"type": "time"}), "linux.namespaces"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces"),
    (lambda s: s["linux"].update(rootfsPropagation="sideways"), "linux.rootfsPropagation"),
    (lambda s: s["linux"].update(intelRdt={"closID": "x"}), "linux.intelRdt"),
    (lambda s: s["linux"].update(personality={"domain": "LINUX32"}), "linux.personality"),
    (lambda s: s["process"].update(scheduler={"policy": "SCHED_IDLE"}), "process.scheduler"),
    (lambda s: s["process"].update(ioPriority={"class": "IOPRIO_CLASS_IDLE"}),
     "process.ioPriority"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]),
     "process.rlimits"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]),
     "process.rlimits"),
    (lambda s: s["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW",
                                          "flags": ["SECCOMP_FILTER_FLAG_LOG"]}),
     "linux.seccomp.flags"),
    (lambda s: s["process"]["capabilities"]["bounding"].append("CAP_MADE_UP"),
     "process.capabilities.bounding"),
    (lambda s: s.update(mounts=[{"destination": "/m", "type": "bind", "source": "/tmp",
                                 "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]),
     "mounts[0]"),
])
def test_what_cannot_be_applied_is_refused_by_name(change, field):
    config = spec()
    change(config)
    with pytest.raises(InvalidArgument) as refused:
        checks.check(config)
    assert refused.value.message.startswith(field + ":")


@pytest.mark.parametrize("hook, message", [
    ({"path": "relative/hook"}, "hooks.prestart[0].path: must be an absolute path"),
    ({"args": ["x"]}, "hooks.prestart[0].path: must be an absolute path"),
    ({"path": "/bin/true", "timeout": 0}, "hooks.prestart[0].timeout: must be a positive integer"),
])
def test_malformed_hooks_are_refused(hook, message):
    with pytest.raises(DockyardError) as refused:
        hooks.validate({"hooks": {"prestart": [hook]}})
    assert refused.value.message == message


def test_a_hook_gets_the_state_on_stdin_with_its_args_and_env(tmp_path):
    out = tmp_path / "out"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", 'echo "$1 $WHO" > "$OUT"; cat >> "$OUT"', "sh", "one"],
            "env": [f"OUT={out}", "WHO=hook"]}
    hooks.run("createRuntime", [hook], {"id": "c1", "status": "creating"})
    first, state = out.read_text().split("\n", 1)
    assert first == "one hook"
    assert json.loads(state) == {"id": "c1", "status": "creating"}


def test_a_failing_hook_is_reported_with_its_exit_status_and_stderr():
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 4"]}
    with pytest.raises(DockyardError) as failed:
        hooks.run("prestart", [hook], {})
    assert failed.value.message == "prestart hook /bin/sh: exit status 4: broken"


def test_a_hook_past_its_timeout_is_killed():
    with pytest.raises(DockyardError) as failed:
        hooks.run("prestart", [{"path": "/bin/sleep", "args": ["sleep", "600"], "timeout": 1}], {})
    assert failed.value.message == "prestart hook /bin/sleep: timed out after 1s"


def test_non_fatal_kinds_run_every_hook_and_only_warn(tmp_path, caplog):
    mark = tmp_path / "ran"
    broken = {"path": "/bin/sh", "args": ["sh", "-c", "exit 2"]}
    second = {"path": "/bin/sh", "args": ["sh", "-c", f"touch {mark}"]}
    hooks.warn("poststop", [broken, second], {})
    assert mark.exists()
    assert "poststop hook /bin/sh: exit status 2" in caplog.text
