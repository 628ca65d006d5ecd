"""Finding the Dockerfile line a build failed at, from the styles of output builders write."""

from __future__ import annotations

from dockyard.hub.failure import failing_line

DOCKERFILE = "FROM busybox\n# comment\nRUN echo ok\nRUN  exit 3\nCMD [\"sh\"]\n"


def test_classic_step_output():
    log = "Step 1/4 : FROM busybox\nStep 2/4 : RUN echo ok\nok\nStep 3/4 : RUN exit 3\nThe command returned a non-zero code: 3\n"
    assert failing_line(log, DOCKERFILE) == "Dockerfile line 4: RUN  exit 3"


def test_buildkit_style_output():
    log = "#5 [1/3] FROM busybox\n#6 [2/3] RUN echo ok\n#7 [3/3] RUN exit 3\nERROR: process did not complete successfully\n"
    assert failing_line(log, DOCKERFILE) == "Dockerfile line 4: RUN  exit 3"


def test_parse_error_names_the_line():
    assert failing_line("Error: Dockerfile:3: unknown instruction", DOCKERFILE) == "Dockerfile line 3: RUN echo ok"


def test_nothing_to_say():
    assert failing_line("network unreachable", DOCKERFILE) == ""
