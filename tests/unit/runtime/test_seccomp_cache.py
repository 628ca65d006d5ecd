"""The seccomp program cache: a profile compiles once, a cached program is trusted only for
the very profile it was made from, and the raw program loads and filters as libseccomp's would."""

from __future__ import annotations

import errno
import os

import pytest

from dockyard.runtime import seccomp
from dockyard.runtime.linux import PR_SET_NO_NEW_PRIVS, Syscalls

DENY_UNAME = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
              "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES}]}


@pytest.fixture
def compiles(monkeypatch):
    calls = []
    real = seccomp.compile_filter

    def counting(config):
        calls.append(config)
        return real(config)

    monkeypatch.setattr(seccomp, "compile_filter", counting)
    return calls


def test_a_profile_compiles_once_then_comes_from_the_cache(tmp_path, compiles):
    first = seccomp.cached_program(DENY_UNAME, str(tmp_path))
    again = seccomp.cached_program(DENY_UNAME, str(tmp_path))
    assert first == again and len(first) % 8 == 0 and len(compiles) == 1
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".bpf", ".json"]


def test_an_entry_for_another_profile_is_not_trusted(tmp_path, compiles):
    seccomp.cached_program(DENY_UNAME, str(tmp_path))
    entry = next(tmp_path.glob("*.json"))
    entry.write_text(entry.read_text().replace("uname", "unamf"))  # same name, other profile
    seccomp.cached_program(DENY_UNAME, str(tmp_path))
    assert len(compiles) == 2


def test_the_cached_program_filters_in_a_child(tmp_path):
    program = seccomp.cached_program(DENY_UNAME, str(tmp_path))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sys_ = Syscalls()
            sys_.prctl(PR_SET_NO_NEW_PRIVS, 1)
            sys_.seccomp_filter(program)
            try:
                os.uname()
            except OSError as err:
                code = 0 if err.errno == errno.EACCES else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
