"""Reading a config file: a key written twice, bytes that aren't text, an empty or huge file, and syntax
errors are each one clear line naming the file, before anything is validated. Every case here failed on
main before this change (a repeated key validated as its last value; binary files raised a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ecr_janitor import cli, config_yaml
from ecr_janitor.config import ConfigError, load_config
from ecr_janitor.config_file import MAX_CONFIG_BYTES
from tests.factories import config_document

ROOT = Path(__file__).resolve().parents[2]
VALID = yaml.safe_dump(config_document(), sort_keys=False)


def _write(tmp_path: Path, content: str | bytes, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return str(raised.value)


def test_a_repeated_top_level_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, f"dryRun: true\n{VALID}dryRun: false\n")
    lines = 1 + VALID.count("\n") + 1
    assert _error(path) == (
        f"invalid config {path}: line {lines}: key 'dryRun' is repeated (first at line 1); "
        "a repeated key would silently replace the first value"
    )


def test_a_repeated_nested_key_is_found_at_any_depth(tmp_path: Path) -> None:
    text = """\
targets:
  - repositories: ["*"]
    mode: retain
    policy:
      rules:
        - rulePriority: 1
          selection: {tagStatus: untagged, countType: sinceImagePushed, countUnit: days, countNumber: 14}
          action: {type: expire}
          selection: {tagStatus: any, countType: imageCountMoreThan, countNumber: 1}
    mode: propagate
"""
    message = _error(_write(tmp_path, text))
    assert message.startswith(f"invalid config {tmp_path / 'c.yaml'}: 2 problem(s)\n")
    assert "  - line 9: key 'selection' is repeated (first at line 7)" in message
    assert "  - line 10: key 'mode' is repeated (first at line 3)" in message


def test_keys_are_compared_as_yaml_values(tmp_path: Path) -> None:
    """`"1"` and `1` are different keys; `true` and `True` are the same boolean, so one would replace the
    other."""
    assert config_yaml.load('"1": a\n1: b\n', "<test>") == {"1": "a", 1: "b"}
    message = _error(_write(tmp_path, "protect:\n  true: 1\n  True: 2\n" + VALID))
    assert "line 3: key True is repeated (first at line 2)" in message


def test_a_merge_key_keeps_its_yaml_meaning(tmp_path: Path) -> None:
    """A key written out overrides a merged one: that is what `<<` is for, not a repeat."""
    text = VALID + "execution:\n  <<: {workers: 4, maxRequestsPerSecond: 50}\n  workers: 8\n"
    execution = load_config(_write(tmp_path, text)).execution
    assert (execution.workers, execution.max_requests_per_second) == (8, 50)


def test_a_repeated_json_key_is_an_error_too(tmp_path: Path) -> None:
    text = json.dumps(config_document(dry_run=True))[:-1] + ', "dryRun": false}'
    assert json.loads(text)["dryRun"] is False  # what a plain parser would have used
    path = _write(tmp_path, text, "c.json")
    assert _error(path) == (
        f"invalid config {path}: key 'dryRun' appears twice in one object; "
        "a repeated key would hide the first value"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01\x02binary", "the file holds binary data (a NUL byte at offset 0), not YAML or JSON"),
        (b"dryRun: true\n\x00", "the file holds binary data (a NUL byte at offset 13), not YAML or JSON"),
        (b"dryRun: \xff\xfe\n", "the file is not UTF-8 text (byte 0xff at offset 8)"),
        (b"\xef\xbb\xbfdryRun: \xe9t\xe9\n", "the file is not UTF-8 text (byte 0xe9 at offset 11)"),
        (
            "dryRun: true".encode("utf-16"),
            "the file holds binary data (a NUL byte at offset 3), not YAML or JSON",
        ),
        (b"", "the file is empty"),
        (b"  \n\t\n", "the file is empty"),
        (b"# only a comment\n", "the file is empty: it holds only comments"),
    ],
)
def test_files_that_are_not_a_config_are_one_line_errors(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = _write(tmp_path, content)
    assert _error(path) == f"invalid config {path}: {expected}"


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, b"\xef\xbb\xbf" + VALID.encode()))


def test_a_file_over_one_mib_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_args: object) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr("ecr_janitor.config_yaml.load", never)
    path = _write(tmp_path, VALID + "#" * MAX_CONFIG_BYTES + "\n")
    assert _error(path) == f"invalid config {path}: the file is larger than 1024 KiB; a config is a few KB"
    monkeypatch.undo()
    assert load_config(_write(tmp_path, VALID + "#" * (MAX_CONFIG_BYTES - len(VALID) - 1) + "\n", "ok.yaml"))


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (
            "targets: [\n",
            "c.yaml",
            "line 2, column 1: not valid YAML: while parsing a flow node; expected the node content",
        ),
        (
            "dryRun: true\n  targets: x\n",
            "c.yaml",
            "line 2, column 10: not valid YAML: mapping values are not allowed",
        ),
        ('{"dryRun": true,\n "targets": ]}', "c.json", "line 2, column 13: not valid JSON: Expecting value"),
    ],
)
def test_syntax_errors_name_the_file_line_and_column(
    tmp_path: Path, text: str, name: str, expected: str
) -> None:
    path = _write(tmp_path, text, name)
    message = _error(path)
    assert message.startswith(f"invalid config {path}: {expected}")
    assert "\n" not in message
    assert "<unicode string>" not in message


def test_the_cli_exits_2_with_the_one_line_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, f"dryRun: true\n{VALID}dryRun: false\n")
    for command in ("validate", "plan", "run"):
        assert cli.main([command, "--config", str(path)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"invalid config {path}: line ")
        assert err.count("\n") == 1


def test_a_binary_config_is_exit_2_without_a_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, bytes(range(256)))
    result = subprocess.run(
        [sys.executable, "-m", "ecr_janitor", "validate", "--config", str(path)],
        env={"PYTHONPATH": str(ROOT / "lambda"), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr
        == f"invalid config {path}: the file holds binary data (a NUL byte at offset 0), not YAML or JSON\n"
    )
