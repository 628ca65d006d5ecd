"""docker CLI output shared by every listing command: `--format`, tables and human units.

Users diff and parse `docker ps`/`docker images` output, so tables are aligned exactly
as docker's tabwriter does it (minwidth 10, padding 3), headers come from the template
itself, and sizes/durations are spelled like docker's go-units.
"""

from __future__ import annotations

import time
import unicodedata
from _collections_abc import Mapping  # what collections.abc holds, without loading collections

TYPE_CHECKING = False  # typing itself is a 3 ms import the read-only commands skip
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

JSON_FORMAT = "{{json .}}"
TABLE_MIN_WIDTH = 10
TABLE_PADDING = 3
_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _first_arg(value: Any, *_ignored: Any) -> Any:
    return value


# docker renders the header row by running the row template on the header names, with
# these functions made inert so `{{upper .Name}}` still shows the column's own header.
HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    name: _first_arg for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
}


class Row(dict):  # type: ignore[type-arg]
    """A row's fields, plus the methods of one string argument its template may call (docker's
    `{{.Label "com.example.key"}}` on a container)."""

    def __init__(self, fields: Mapping[str, Any], **string_methods: Any) -> None:
        super().__init__(fields)
        self.string_methods = string_methods


def label_header(name: str) -> str:
    """docker's column title for `{{.Label "com.example.some-key"}}`: "some key"."""
    return name.rsplit(".", 1)[-1].replace("-", " ").replace("_", " ")


class _Headers(dict):  # type: ignore[type-arg]
    """Header names by field; a field nobody named is headed by its upper-cased name."""

    string_methods = {"Label": label_header}

    def __missing__(self, key: str) -> str:
        return key.upper()


def render(
    format: str | None,
    rows: Sequence[Any],
    default_table: str,
    *,
    quiet_field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render rows the way docker's formatter does; the result ends with a newline per row.

    `format` is the user's `--format` (None/"" or "table" mean `default_table`, "json"
    means one JSON object per line, a "table " prefix means aligned columns with a header
    row). `quiet_field` is `-q`: print only that field, ignoring any format, as docker does.
    `headers` maps field names to docker's column titles (e.g. ID -> "CONTAINER ID").
    """
    if quiet_field is not None:
        fmt = "{{." + quiet_field + "}}"
    elif not format or format == "table":
        fmt = default_table
    else:
        fmt = format
    is_table = fmt.startswith("table")
    if is_table:
        fmt = fmt[len("table"):]
    elif fmt == "json":
        fmt = JSON_FORMAT
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    header_row = _Headers(headers or {})
    text = _plain_fields(fmt, [*rows, header_row] if is_table else rows)
    if text is None:
        from dockyard.cli import gotemplate

        template = gotemplate.parse(fmt)
        text = [template.execute(row) for row in rows]
        if is_table:
            text.append(template.execute(header_row, funcs=HEADER_FUNCS))
    body = "".join(line + "\n" for line in text[:len(rows)])
    if not is_table:
        return body
    return tabwrite(text[-1] + "\n" + body)


def inspect_text(docs: list[dict], fmt: str | None) -> str:
    """What `inspect` prints: each document through `--format`, else all of them as indented JSON."""
    if not fmt:
        from dockyard.jsonwrite import dumps
        return dumps(docs, indent=4) + "\n"
    return render(JSON_FORMAT if fmt == "json" else fmt, docs, "")


def _plain_fields(fmt: str, rows: Sequence[Any]) -> list[str] | None:
    """Each row through `fmt` when it is only text and `{{.Field}}`s (or `{{.Field.Key}}`s into
    plain dicts, as inspect's `{{.State.Status}}`) whose values are strings, booleans or
    integers (the default tables, most users' formats): what the template engine would print,
    without loading it. None for anything else."""
    parts = fmt.split("{{")
    texts, fields = [parts[0]], []
    for part in parts[1:]:
        field, sep, text = part.partition("}}")
        path = field[1:].split(".")
        if not sep or not field.startswith(".") or not all(p.isidentifier() for p in path) or "}}" in text \
                or "{{" in text:
            return None
        fields.append(path)
        texts.append(text)
    if "}}" in texts[0]:
        return None
    out = []
    for row in rows:
        if not isinstance(row, Mapping):
            return None
        line = [texts[0]]
        for path, text in zip(fields, texts[1:]):
            value = _plain_value(row, path)
            if value is None:
                return None
            line += (value, text)
        out.append("".join(line))
    return out


def _plain_value(row: Mapping, path: list[str]) -> str | None:
    """What the template engine prints for `{{.A.B}}` of row when every step is a key that is
    there (below the row, in plain dicts) and the value a string, boolean or integer."""
    try:
        value = row[path[0]]
        for key in path[1:]:
            if type(value) is not dict:
                return None
            value = value[key]
    except KeyError:
        return None
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    return str(value) if kind is int else None


def tabwrite(text: str, minwidth: int = TABLE_MIN_WIDTH, padding: int = TABLE_PADDING) -> str:
    """Align tab-terminated cells into columns exactly like docker's tabwriter.

    A column is a run of consecutive lines that all have a tab-terminated cell at that
    index; its width is the widest cell plus padding, at least minwidth. Text after a
    line's last tab is never padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[int] = []
    out: list[str] = []

    def emit(lo: int, hi: int) -> None:
        for cells in lines[lo:hi]:
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell)
                if j < len(widths):
                    parts.append(" " * (widths[j] - _display_width(cell)))
            out.append("".join(parts))

    def layout(lo: int, hi: int) -> None:
        column = len(widths)
        i = lo
        while i < hi:
            if column >= len(lines[i]) - 1:
                i += 1
                continue
            emit(lo, i)
            lo, width = i, minwidth
            while i < hi and column < len(lines[i]) - 1:
                width = max(width, _display_width(lines[i][column]) + padding)
                i += 1
            widths.append(width)
            layout(lo, i)
            widths.pop()
            lo = i
        emit(lo, hi)

    layout(0, len(lines))
    return "\n".join(out)


def _display_width(text: str) -> int:
    """Terminal cells, as go-runewidth counts them: wide East Asian runes take two."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def human_size(size: float, precision: int = 3) -> str:
    """Decimal size like go-units HumanSizeWithPrecision: 823B, 5.58kB, 1.23MB."""
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.{precision}g}{_SIZE_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """Elapsed time like go-units HumanDuration: "About a minute", "3 hours", "2 weeks"."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int((seconds + 1800) // 3600)  # Duration.Round(time.Hour): halves round up
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def go_time(epoch: float) -> str:
    """Go's default time.Time format, which docker's CreatedAt columns print."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(epoch))


def human_ago(seconds: float) -> str:
    """The CREATED column of `docker ps`/`docker images`: "5 minutes ago"."""
    return human_duration(seconds) + " ago"


def truncate_id(object_id: str) -> str:
    """Short ID as docker shows it: algorithm prefix dropped, first 12 hex digits."""
    return object_id.split(":", 1)[-1][:12]
