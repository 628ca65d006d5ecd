"""Config-only instructions change the config in place and answer only what they set, so a
build step costs what it changes, not what the config already holds (a Dockerfile of thousands
of LABEL lines builds in time linear in its length)."""

from __future__ import annotations

from dockyard.builder.changes import apply_changes, apply_instruction
from dockyard.builder.dockerfile import parse


def instr(text: str):
    (one,) = parse("FROM a\n" + text).stages[0].instructions
    return one


def test_label_adds_in_place_and_answers_only_its_own_entries():
    labels = {f"l{i}": str(i) for i in range(5000)}
    config = {"Labels": labels, "Env": ["V=x"]}
    changed = apply_instruction(config, instr("LABEL new=$V other=2"), {"V": "x"})
    assert changed == {"Labels": {"new": "x", "other": "2"}}
    assert config["Labels"] is labels  # not copied
    assert len(labels) == 5002 and labels["new"] == "x"


def test_expose_and_volume_add_in_place_and_null_mappings_are_made():
    config = {"ExposedPorts": None, "Volumes": {"/a": {}}}
    vols = config["Volumes"]
    assert apply_instruction(config, instr("EXPOSE 80 53/udp"), {}) == {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    assert apply_instruction(config, instr("VOLUME /b"), {}) == {"Volumes": {"/b": {}}}
    assert config["Volumes"] is vols and vols == {"/a": {}, "/b": {}}


def test_other_instructions_answer_the_value_they_set():
    config = {"WorkingDir": "/app", "Env": [f"E{i}=v" for i in range(1000)]}
    assert apply_instruction(config, instr("WORKDIR sub"), {}) == {"WorkingDir": "/app/sub"}
    assert apply_instruction(config, instr("ENV A=1 B=$A"), {}) == {"Env": ["A=1", "B=1"]}
    assert apply_instruction(config, instr('CMD ["sh"]'), {}) == {"Cmd": ["sh"]}
    assert apply_instruction(config, instr("ONBUILD RUN true"), {}) == {"OnBuild": "RUN true"}
    assert config["OnBuild"] == ["RUN true"]


def test_changes_leave_the_given_config_untouched():
    config = {"Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}}
    out = apply_changes(config, ["LABEL b=2", "EXPOSE 443"])
    assert out["Labels"] == {"a": "1", "b": "2"} and set(out["ExposedPorts"]) == {"80/tcp", "443/tcp"}
    assert config == {"Labels": {"a": "1"}, "ExposedPorts": {"80/tcp": {}}}


def test_env_set_again_stays_where_it_was_as_docker_keeps_it():
    config = {"Env": ["PATH=/bin", "A=1", "B=2"]}
    env = config["Env"]
    assert apply_instruction(config, instr("ENV PATH=/x:$PATH C=3")) == {"Env": ["PATH=/x:/bin", "C=3"]}
    assert config["Env"] is env and env == ["PATH=/x:/bin", "A=1", "B=2", "C=3"]
