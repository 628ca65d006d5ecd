"""Body keys named as Go decodes them: a struct's fields match whatever the key's case."""

from __future__ import annotations

from dockyard.api.bodies import BODIES


def test_struct_keys_take_the_field_names_and_maps_keep_theirs():
    create = BODIES[("POST", "/containers/create")]
    doc = {"image": "busybox", "hostconfig": {"binds": ["/a:/b"], "restartPolicy": {"name": "always"}},
           "Labels": {"lower": "x"}, "Image": "first", "IMAGE": "last", "Unknown": 1}
    create.canonical(doc)
    assert doc == {"Image": "last", "HostConfig": {"Binds": ["/a:/b"], "RestartPolicy": {"Name": "always"}},
                   "Labels": {"lower": "x"}, "Unknown": 1}


def test_slices_of_structs_are_named_too():
    create = BODIES[("POST", "/containers/create")]
    doc = {"HostConfig": {"mounts": [{"type": "volume", "target": "/data"}]}}
    create.canonical(doc)
    assert doc == {"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/data"}]}}
