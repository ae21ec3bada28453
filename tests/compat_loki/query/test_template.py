"""The Go-template subset of line_format / label_format."""

from __future__ import annotations

import pytest

from compat_loki.query.template import compile_template
from core.errors import QueryError

LABELS = {"a": "Hello", "n": "7", "path": "/api/users/42", "empty": ""}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.a}} world", "Hello world"),
        ("{{ .a | ToUpper }}", "HELLO"),
        ("{{ .a | ToLower | upper }}", "HELLO"),
        ("{{ __line__ }}!", "the line!"),
        ("{{ .missing }}|", "|"),
        ('{{ .empty | default "none" }}', "none"),
        ('{{ .path | replace "/" "." | trimPrefix "." }}', "api.users.42"),
        ('{{ regexReplaceAll "[0-9]+" .path "N" }}', "/api/users/N"),
        ('{{ regexReplaceAll "users/([0-9]+)" .path "u=$1" }}', "/api/u=42"),
        ("{{ add .n 3 }}", "10"),
        ('{{ printf "%s-%v" .a .n }}', "Hello-7"),
        ('{{ if eq .n "7" }}seven{{ else }}other{{ end }}', "seven"),
        ("{{ if .empty }}yes{{ else }}no{{ end }}", "no"),
        ("{{- .a -}}  \n  x", "Hellox"),
        ("{{ .a | substr 1 3 }}", "el"),
        ("{{ .a | len }}", "5"),
        ("{{ __timestamp__ }}", "1970-01-01T00:00:01+00:00"),
        ('{{ "x" | b64enc | b64dec }}', "x"),
        ("{{/* a comment */}}ok", "ok"),
        ("{{ .path | title }}", "/Api/Users/42"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert compile_template(template).render(LABELS, "the line", 10**9) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ .a | nosuch }}",
        "{{ if .a }}x",
        "{{ end }}",
        "{{ range .a }}{{ end }}",
        "{{ .a",
        "{{ ) }}",
        "{{ }}",
    ],
)
def test_rejected_at_parse_time(template: str) -> None:
    with pytest.raises(QueryError):
        compile_template(template)


def test_fields_are_known() -> None:
    assert compile_template("{{ .a }} {{ .b | ToUpper }}").fields == {"a", "b"}


def test_output_is_bounded() -> None:
    big = compile_template("{{ repeat 100000000 __line__ }}" * 50)
    assert len(big.render({}, "x" * 1000, 0)) <= 256 * 1024
    assert compile_template('{{ printf "%09999999d" 1 }}').render({}, "", 0) == "%09999999d"
    assert compile_template('{{ printf "%05d|%s" 42 "a" }}').render({}, "", 0) == "00042|a"
