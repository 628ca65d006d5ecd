"""An exec whose command cannot start: Docker's exit codes (127 not found, 126 not executable)
through exec inspect and `docker exec`, and Docker's words in the exec's stream."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

NOT_FOUND = ('OCI runtime exec failed: exec failed: unable to start container process: '
             'exec: "nope": executable file not found in $PATH: unknown')


@pytest.mark.parametrize("runtime", ["dockyard", "runc"])
def test_docker_exec_of_a_missing_or_unexecutable_command(api, busybox, runtime):
    api.docker("run", "-d", "--name", "ex", "--runtime", runtime, "busybox", "sleep", "60")
    r = api.docker("exec", "ex", "nope", check=False)
    # Docker writes the error into the exec's stream, which its CLI prints on stdout
    assert r.code == 127 and NOT_FOUND in r.out
    tty = ["-t"] if runtime == "dockyard" else []  # runc takes a console socket only when it detaches
    r = api.docker("exec", *tty, "ex", "/etc/passwd", check=False)
    assert r.code == 126 and 'exec: "/etc/passwd": permission denied' in r.out + r.err
    r = api.docker("exec", "ex", "/nope", check=False)
    assert r.code == 127 and "stat /nope: no such file or directory" in r.out + r.err
    r = api.docker("exec", "-d", "ex", "nope", check=False)
    assert r.code != 0 and NOT_FOUND in r.err
    # a command that runs and exits 255 is not a start failure
    assert api.docker("exec", "ex", "sh", "-c", "exit 255", check=False).code == 255


def test_docker_py_exec_inspect_reports_127(api, busybox):
    client = api.client()
    c = client.containers.run("busybox", "sleep 60", detach=True)
    code, out = c.exec_run("nope")
    assert code == 127 and out.decode() == NOT_FOUND + "\r\n"
    eid = client.api.exec_create(c.id, ["nope"])["Id"]
    assert client.api.exec_start(eid).decode() == NOT_FOUND + "\r\n"
    info = client.api.exec_inspect(eid)
    assert (info["ExitCode"], info["Running"]) == (127, False)
    assert client.api.exec_inspect(client.api.exec_create(c.id, ["true"])["Id"])["ExitCode"] is None
