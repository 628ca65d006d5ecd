"""Go text/template behaviour docker `--format` users depend on, as exact strings."""

from dataclasses import dataclass

import pytest

from dockyard.cli import gotemplate
from dockyard.errors import InvalidArgument

DATA = {
    "ID": "4c01db0b339c",
    "Args": ["sh", "-c", "echo hi"],
    "Config": {"Env": ["PATH=/bin", "A=1"], "Labels": {"com.x": "y"}, "Entrypoint": None},
    "State": {"Running": True, "ExitCode": 0, "Health": None},
    "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "alpha": {"IPAddress": ""}}},
    "Ports": {"80/tcp": [{"HostPort": "8080"}]},
    "Empty": [],
    "Count": 3,
    "Ratio": 1.5,
    "Name": "/web",
    "Html": "<a&b>",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # text, fields and Go value printing
        ("plain text", "plain text"),
        ("{{.ID}}", "4c01db0b339c"),
        ("{{.Config.Env}}", "[PATH=/bin A=1]"),
        ("{{.State.Running}}", "true"),
        ("{{.State.ExitCode}}", "0"),
        ("{{.NetworkSettings.Networks.bridge.IPAddress}}", "172.17.0.2"),
        ("{{.Config.Labels.missing}}", "<no value>"),
        ("{{.Nope.Deeper.Still}}", "<no value>"),
        ("{{.State.Health}}", "<nil>"),
        ("{{.Config.Labels}}", "map[com.x:y]"),
        ("{{.Ports}}", "map[80/tcp:[map[HostPort:8080]]]"),
        ("{{.Ratio}}", "1.5"),
        ("{{.Empty}}", "[]"),
        ("{{1234567.0}} {{1e6}} {{100000.0}} {{0.0001}} {{0.00001}}", "1.234567e+06 1e+06 100000 0.0001 1e-05"),
        ("{{true}} {{false}} {{-3}} {{0x1F}} {{'a'}} {{1_000}}", "true false -3 31 97 1000"),
        ('{{"tab\\there"}}|{{`raw\\n`}}', "tab\there|raw\\n"),
        # trim markers and comments
        ("a  {{- .ID -}}  b", "a4c01db0b339cb"),
        ("a \n {{- .Count}} \n", "a3 \n"),
        ("{{.Count -}} \n\t x", "3x"),
        ("x{{/* a comment */}}y", "xy"),
        ("x {{- /* trimmed */ -}} y", "xy"),
        # variables
        ("{{$x := .ID}}{{$x}}", "4c01db0b339c"),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
        ("{{with .Config}}{{$.ID}}{{end}}", "4c01db0b339c"),
        ("{{$n := .Name}}{{range .Args}}{{$n}}{{end}}", "/web/web/web"),
        ("{{$c := .Config}}{{$c.Labels}}", "map[com.x:y]"),
        # if / else if / else
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Empty}}a{{else if .Nope}}b{{else}}c{{end}}", "c"),
        ("{{if .Nope}}a{{else if .Count}}b{{else}}c{{end}}", "b"),
        ("{{if 0}}a{{end}}{{if \"\"}}b{{end}}{{if .Config.Entrypoint}}c{{end}}", ""),
        ("{{if $x := .Count}}{{$x}}{{end}}", "3"),
        # range
        ("{{range .Args}}[{{.}}]{{end}}", "[sh][-c][echo hi]"),
        ("{{range $i, $a := .Args}}{{$i}}={{$a}} {{end}}", "0=sh 1=-c 2=echo hi "),
        ("{{range $a := .Args}}{{$a}},{{end}}", "sh,-c,echo hi,"),
        ("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.IPAddress}};{{end}}", "alpha:;bridge:172.17.0.2;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range .Config.Entrypoint}}x{{else}}nil{{end}}", "nil"),
        ("{{range .Nope}}x{{else}}missing{{end}}", "missing"),
        ("{{range $i, $a := .Args}}{{if eq $i 1}}{{continue}}{{end}}{{$a}};{{end}}", "sh;echo hi;"),
        ("{{range .Args}}{{if eq . \"-c\"}}{{break}}{{end}}{{.}}{{end}}", "sh"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range $p, $b := .Ports}}{{$p}} -> {{(index $b 0).HostPort}}{{end}}", "80/tcp -> 8080"),
        # with
        ("{{with .Config.Labels}}{{index . \"com.x\"}}{{end}}", "y"),
        ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
        ("{{with .Nope}}a{{else with .Count}}{{.}}{{end}}", "3"),
        # pipelines and parentheses
        ("{{.ID | printf \"%s!\"}}", "4c01db0b339c!"),
        ("{{.Args | len | printf \"%03d\"}}", "003"),
        ("{{printf \"%s-%s\" (index .Args 0) (upper .Name)}}", "sh-/WEB"),
        ("{{len (index .Config.Env 1)}}", "3"),
        # comparisons and logic
        ("{{eq .Count 3}} {{eq .Count 1 2 3}} {{eq .Name \"x\" \"y\"}}", "true true false"),
        ("{{ne .Count 3}} {{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge \"b\" \"a\"}}", "false true true false true"),
        ("{{eq .Nope \"x\"}}", "false"),
        ("{{and 1 0 2}}|{{and 1 2}}|{{or 0 \"\" \"z\"}}|{{or 0 \"\"}}", "0|2|z|"),
        ("{{not .Empty}} {{not .Count}} {{not .Nope}}", "true false true"),
        ("{{and .Nope .Nope.X}}", "<no value>"),
        # len / index / slice
        ("{{len .Args}} {{len .Name}} {{len .Config.Labels}} {{len \"héllo\"}}", "3 4 1 6"),
        ("{{index .Args 2}} {{index .Ports \"80/tcp\" 0 \"HostPort\"}}", "echo hi 8080"),
        ("{{index .Config.Labels \"none\"}}", "<no value>"),
        ("{{slice .Args 1}} {{slice .Name 1 3}}", "[-c echo hi] we"),
        # printf / print / println
        ("{{printf \"%-6s|%6s|\" \"ab\" \"cd\"}}", "ab    |    cd|"),
        ("{{printf \"%d %5d %-4d| %03d %+d\" 7 42 1 5 3}}", "7    42 1   | 005 +3"),
        ("{{printf \"%v %v %v\" .Args .Config.Labels .State.Health}}", "[sh -c echo hi] map[com.x:y] <nil>"),
        ("{{printf \"%q %q\" .Name .Args}}", "\"/web\" [\"sh\" \"-c\" \"echo hi\"]"),
        ("{{printf \"%t %x %X %x %#x\" true 255 255 \"hi\" 16}}", "true ff FF 6869 0x10"),
        ("{{printf \"%.2f %5.1f %s\" .Ratio .Ratio \"x\"}}", "1.50   1.5 x"),
        ("{{printf \"%.3s|%%\" \"abcdef\"}}", "abc|%"),
        ("{{printf \"%d %s\" \"x\" 5}}", "%!d(string=x) %!s(int=5)"),
        ("{{printf \"%s %s\" \"a\"}}|{{printf \"%s\" \"a\" 2}}", "a %!s(MISSING)|a%!(EXTRA int=2)"),
        ("{{printf \"%s\" .Nope}}", "%!s(<nil>)"),
        ("{{print 1 2 \"a\" \"b\" 3 true}}", "1 2ab3 true"),
        ("{{println .ID .Count}}", "4c01db0b339c 3\n"),
        ("{{printf \"%q\" \"a\\\"b\\n\"}}", "\"a\\\"b\\n\""),
        # docker functions
        ("{{json .Config}}", '{"Entrypoint":null,"Env":["PATH=/bin","A=1"],"Labels":{"com.x":"y"}}'),
        ("{{json .Html}} {{json .Nope}} {{json .Ratio}} {{json 2.0}} {{json 1e21}}", '"<a&b>" null 1.5 2 1e+21'),
        ("{{json \"é\\u2028\\n\"}}", '"é\\u2028\\n"'),
        ("{{join .Args \", \"}}", "sh, -c, echo hi"),
        ("{{split \"a:b:c\" \":\"}} {{len (split .Name \"/\")}}", "[a b c] 2"),
        ("{{title \"hello wORLD-x y_z\"}}", "Hello WORLD-X Y_z"),
        ("{{lower \"AbC\"}} {{upper \"AbC\"}}", "abc ABC"),
        ("[{{pad \"ab\" 1 2}}][{{pad \"\" 1 2}}]", "[ ab  ][]"),
        ("{{truncate .ID 4}} {{truncate \"ab\" 5}} {{truncate \"abc\" 3}}", "4c01 ab abc"),
        ("{{.Name | upper | printf \"%s:\"}}", "/WEB:"),
    ],
)
def test_template_output(template: str, expected: str) -> None:
    assert gotemplate.execute(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{foo .ID}}", 'template: :1: function "foo" not defined'),
        ("{{.ID", "template: :1: unclosed action"),
        ("a\n{{.ID", "template: :2: unclosed action"),
        ("{{if .ID}}x", "template: :1: unexpected EOF"),
        ("{{range .Args}}", "template: :1: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{if .A}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
        ("{{$x}}", 'template: :1: undefined variable "$x"'),
        ("{{if 1}}{{$y := 2}}{{end}}{{$y}}", 'template: :1: undefined variable "$y"'),
        ("{{.ID | \"x\"}}", "template: :1: non executable command in pipeline stage 2"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{(.ID}}", "template: :1: unclosed left paren"),
        ("{{.ID)}}", "template: :1: unexpected right paren"),
        ("{{.ID @}}", "template: :1: unrecognized character in action: U+0040 '@'"),
        ('{{"abc}}', "template: :1: unterminated quoted string"),
        ("{{/* x */ .ID}}", "template: :1: comment ends before closing delimiter"),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("{{with .A}}{{else if .B}}{{end}}{{end}}", "template: :1: unexpected <if> in input"),
        ("{{template \"x\"}}", "template: :1: {{template}} is not supported"),
        ("{{3x}}", 'template: :1: bad number syntax: "3x"'),
        ("{{\"a\".B}}", "template: :1: unexpected . after term \"\\\"a\\\"\""),
    ],
)
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        gotemplate.parse(template)
    assert info.value.message == "template parsing error: " + message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.ID.X}}", 'template: :1:2: executing "" at <.ID.X>: can\'t evaluate field X in type string'),
        ("{{.State.Health.Status}}", 'template: :1:2: executing "" at <.State.Health.Status>: '
                                     "nil pointer evaluating interface {}.Status"),
        ("ab\nc {{index .Args 9}}", 'template: :2:4: executing "" at <index .Args 9>: '
                                    "error calling index: index out of range: 9"),
        ("{{len .Count}}", 'template: :1:2: executing "" at <len .Count>: error calling len: len of type int'),
        ("{{eq .Name 1}}", 'template: :1:2: executing "" at <eq .Name 1>: '
                           "error calling eq: incompatible types for comparison"),
        ("{{lt true false}}", 'template: :1:2: executing "" at <lt true false>: '
                              "error calling lt: invalid type for comparison"),
        ("{{truncate .ID}}", 'template: :1:2: executing "" at <truncate .ID>: '
                             "wrong number of args for truncate: want 2 got 1"),
        ("{{pad .ID \"1\" 2}}", 'template: :1:2: executing "" at <pad .ID "1" 2>: '
                                "wrong type for value; expected int; got string"),
        ("{{.ID 3}}", 'template: :1:2: executing "" at <.ID>: ID is not a method but has arguments'),
        ("{{\"a\" 1}}", 'template: :1:2: executing "" at <"a">: can\'t give argument to non-function "a"'),
        ("{{range .Name}}{{end}}", 'template: :1:8: executing "" at <.Name>: range can\'t iterate over /web'),
        ("{{index .NetworkSettings.Networks.bridge.IPAddress 1 2}}",
         'template: :1:2: executing "" at <index .NetworkSettin...>: error calling index: '
         "can't index item of type int"),
    ],
)
def test_execution_errors(template: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        gotemplate.execute(template, DATA)
    assert info.value.message == "template parsing error: " + message


@dataclass
class _Container:
    Id: str
    Names: list[str]

    def Short(self, n: int) -> str:  # noqa: N802 - Go-style method name used in templates
        return self.Id[:n]


def test_objects_expose_fields_and_methods() -> None:
    c = _Container("abcdef", ["/a", "/b"])
    assert gotemplate.execute("{{.Id}} {{.Names}} {{.Short 3}} {{json .}}", c) == (
        'abcdef [/a /b] abc {"Id":"abcdef","Names":["/a","/b"]}'
    )
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope in type _Container"):
        gotemplate.execute("{{.Nope}}", c)


def test_parse_is_cached_and_reusable() -> None:
    template = gotemplate.parse("{{.A}}-{{$x := .A}}{{$x}}")
    assert gotemplate.parse("{{.A}}-{{$x := .A}}{{$x}}") is template
    assert [template.execute({"A": n}) for n in (1, 2)] == ["1-1", "2-2"]


def test_funcs_override_replaces_builtin_implementation() -> None:
    template = gotemplate.parse("{{upper .A}}")
    assert template.execute({"A": "x"}, funcs={"upper": lambda v: f"<{v}>"}) == "<x>"
    assert template.execute({"A": "x"}) == "X"


def test_variables_declared_in_range_body_do_not_leak_between_iterations() -> None:
    out = gotemplate.execute("{{range .}}{{$v := .}}{{$v}}{{end}}", [1, 2])
    assert out == "12"
