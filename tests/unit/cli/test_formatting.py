"""docker's --format handling, tabwriter alignment and human units, as exact strings."""

import pytest

from dockyard.cli import formatting
from dockyard.errors import InvalidArgument

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED"}
IMAGES = [
    {"Repository": "alpine", "Tag": "latest", "ID": "05455a08881e", "CreatedSince": "2 weeks ago",
     "Size": "7.38MB"},
    {"Repository": "registry.example.com/team/app", "Tag": "v1.2.3", "ID": "9f1c2e0d4b7a",
     "CreatedSince": "About an hour ago", "Size": "123MB"},
]
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "RunningFor": "CREATED"}


def test_images_table_matches_docker_byte_for_byte() -> None:
    out = formatting.render(None, IMAGES[:1], IMAGES_TABLE, headers=IMAGE_HEADERS)
    assert out == (
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
        "alpine       latest    05455a08881e   2 weeks ago   7.38MB\n"
    )


def test_columns_widen_to_the_longest_cell_plus_three() -> None:
    out = formatting.render("table", IMAGES, IMAGES_TABLE, headers=IMAGE_HEADERS)
    assert out == (
        "REPOSITORY                      TAG       IMAGE ID       CREATED             SIZE\n"
        "alpine                          latest    05455a08881e   2 weeks ago         7.38MB\n"
        "registry.example.com/team/app   v1.2.3    9f1c2e0d4b7a   About an hour ago   123MB\n"
    )


def test_ps_table_with_empty_column() -> None:
    row = {"ID": "4c01db0b339c", "Image": "alpine", "Command": '"sh"', "RunningFor": "2 minutes ago",
           "Status": "Up 2 minutes", "Ports": "", "Names": "web"}
    out = formatting.render("", [row], PS_TABLE, headers=PS_HEADERS)
    assert out == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED         STATUS         PORTS     NAMES\n"
        '4c01db0b339c   alpine    "sh"      2 minutes ago   Up 2 minutes             web\n'
    )


def test_empty_table_prints_only_the_header() -> None:
    out = formatting.render(None, [], PS_TABLE, headers=PS_HEADERS)
    assert out == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_user_table_format_with_escaped_tab_and_header_functions() -> None:
    out = formatting.render("table {{.ID}}\\t{{upper .Repository}}\\t{{truncate .Tag 3}}", IMAGES,
                            IMAGES_TABLE, headers=IMAGE_HEADERS)
    assert out == (
        "IMAGE ID       REPOSITORY                      TAG\n"
        "05455a08881e   ALPINE                          lat\n"
        "9f1c2e0d4b7a   REGISTRY.EXAMPLE.COM/TEAM/APP   v1.\n"
    )


def test_json_format_prints_one_compact_object_per_row() -> None:
    out = formatting.render("json", [{"b": "2", "a": "<1>"}, {"a": "3"}], IMAGES_TABLE)
    assert out == '{"a":"<1>","b":"2"}\n{"a":"3"}\n'


def test_plain_template_renders_each_row_without_header() -> None:
    out = formatting.render("{{.Repository}}:{{.Tag}}", IMAGES, IMAGES_TABLE)
    assert out == "alpine:latest\nregistry.example.com/team/app:v1.2.3\n"


def test_quiet_ignores_format_and_prints_only_the_field() -> None:
    out = formatting.render("table {{.Tag}}", IMAGES, IMAGES_TABLE, quiet_field="ID")
    assert out == "05455a08881e\n9f1c2e0d4b7a\n"


def test_template_errors_surface_as_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r'^template parsing error: template: :1: function "nope" not defined$'):
        formatting.render("{{nope .ID}}", IMAGES, IMAGES_TABLE)
    with pytest.raises(InvalidArgument, match="can't evaluate field X in type string"):
        formatting.render("{{.ID.X}}", IMAGES, IMAGES_TABLE)


LABELLED = [formatting.Row({"Names": "web", "Labels": "a-b=2,com.example.foo=1"},
                           Label=lambda key: {"com.example.foo": "1", "a-b": "2"}.get(key, "")),
            formatting.Row({"Names": "db", "Labels": ""}, Label=lambda key: "")]


def test_label_method_and_its_header_as_docker_prints_them() -> None:
    out = formatting.render('table {{.Label "com.example.foo"}}\t{{.Label "a-b"}}\t{{.Names}}', LABELLED, "")
    assert out == "foo       a b       NAMES\n1         2         web\n                    db\n"
    assert formatting.render('{{.Label "missing"}}|{{json .}}', LABELLED[:1], "") == (
        '|{"Labels":"a-b=2,com.example.foo=1","Names":"web"}\n')


@pytest.mark.parametrize(("fmt", "message"), [
    ("{{.Label}}", r"at <\.Label>: wrong number of args for Label: want 1 got 0$"),
    ('{{.Label "x" "y"}}', r"at <\.Label>: wrong number of args for Label: want 1 got 2$"),
    ("{{.Label 3}}", r":1:9: executing \"\" at <3>: expected string; found 3$"),
    ('{{.Names "x"}}', r"Names is not a method but has arguments$"),
])
def test_label_method_errors_match_docker(fmt: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        formatting.render(fmt, LABELLED, "")


@pytest.mark.parametrize(
    ("text", "minwidth", "padding", "expected"),
    [
        ("a\tb\nccc\td\n", 0, 1, "a   b\nccc d\n"),
        ("a\tb\nccc\td\n", 10, 3, "a         b\nccc       d\n"),
        # a line with fewer cells ends the column block below it (Go's doc example)
        ("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n", 0, 1,
         "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n"),
        # a line without tabs splits the table into independent blocks
        ("x\ty\nno tabs here\nlonger cell\tz\n", 0, 1, "x y\nno tabs here\nlonger cell z\n"),
        # text after the last tab is never padded; unterminated last line is kept
        ("a\tb   \nc", 0, 2, "a  b   \nc"),
        # empty cells still take the column width
        ("\tx\nabc\ty\n", 0, 1, "    x\nabc y\n"),
        # wide characters count as two columns, like go-runewidth
        ("日本\tx\nab\ty\n", 0, 1, "日本 x\nab   y\n"),
        ("", 10, 3, ""),
    ],
)
def test_tabwrite(text: str, minwidth: int, padding: int, expected: str) -> None:
    assert formatting.tabwrite(text, minwidth, padding) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0B"),
        (823, "823B"),
        (999, "999B"),
        (1000, "1kB"),
        (5580, "5.58kB"),
        (1234567, "1.23MB"),
        (7_380_000, "7.38MB"),
        (123_456_789, "123MB"),
        (999_999, "1e+03kB"),  # docker's own rounding quirk
        (1.5e12, "1.5TB"),
        (10**27, "1e+03YB"),
    ],
)
def test_human_size(size: float, expected: str) -> None:
    assert formatting.human_size(size) == expected


def test_human_size_precision() -> None:
    assert formatting.human_size(1234567, 4) == "1.235MB"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "Less than a second"),
        (0.9, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"),
        (59 * 86400, "8 weeks"),
        (60 * 86400, "2 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
        (3651 * 86400, "10 years"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert formatting.human_duration(seconds) == expected


def test_human_ago() -> None:
    assert formatting.human_ago(300) == "5 minutes ago"


@pytest.mark.parametrize(
    ("object_id", "expected"),
    [
        ("sha256:" + "0123456789ab" + "c" * 52, "0123456789ab"),
        ("0123456789abcdef", "0123456789ab"),
        ("abc", "abc"),
    ],
)
def test_truncate_id(object_id: str, expected: str) -> None:
    assert formatting.truncate_id(object_id) == expected


DOCS = [{"Id": "abc", "State": {"Status": "running", "Running": True, "Pid": 42, "ExitCode": 0, "Health": None,
                                "Error": ""},
         "Config": {"Labels": {"a": "b"}, "Env": ["A=1"], "StopTimeout": 1.5, "Tty": False},
         "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}},
        {"Id": "def", "State": {"Status": "exited", "Running": False, "Pid": 0, "ExitCode": 137, "Health": None,
                                "Error": "x"},
         "Config": {"Labels": {}, "Env": [], "StopTimeout": 2.0, "Tty": True}, "NetworkSettings": {"Networks": {}}}]


@pytest.mark.parametrize("fmt", [
    "{{.State.Status}}", "{{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}", "{{.Id}}:{{.Config.Tty}}",
    "{{.NetworkSettings.Networks.bridge.IPAddress}}", "{{.State.Health}}", "{{.State.Nope}}", "{{.Config.Env}}",
    "{{.Config.StopTimeout}}", "{{.Config.Labels.a}}", "{{.State}}", "{{.Id.Nope}}", "x{{.State.Error}}y",
])
def test_plain_fields_print_what_the_template_engine_prints(fmt: str) -> None:
    """Formats `_plain_fields` answers without the template engine (dotted keys into dicts,
    strings, booleans, integers) and those it leaves to it: the same text either way."""
    from dockyard.cli import gotemplate

    try:
        engine = "".join(gotemplate.parse(fmt).execute(doc) + "\n" for doc in DOCS)
    except InvalidArgument as e:
        engine = e
    try:
        plain = formatting.render(fmt, DOCS, "")
    except InvalidArgument as e:
        plain = e
    assert str(plain) == str(engine)
