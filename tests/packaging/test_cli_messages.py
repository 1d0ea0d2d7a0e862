"""The one-line answer for a missing or too-old optional dependency names the extra to install."""

from __future__ import annotations

from otel_ml.cli import main, missing_extra_message


def test_missing_module_names_the_commands_extras_and_the_modules():
    exc = ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
    message = missing_extra_message("demo", exc)
    assert message.startswith("the Python module 'sklearn' is not installed;")
    assert "pip install 'otel-ml[processor,sklearn]'" in message and "pip install '.[processor,sklearn]'" in message
    parquet = missing_extra_message("reference", ModuleNotFoundError("x", name="pyarrow.parquet"))
    assert "pip install 'otel-ml[processor,parquet]'" in parquet


def test_a_too_old_dependency_asks_for_an_upgrade():
    exc = ImportError("cannot import name 'ConsoleLogRecordExporter' from 'opentelemetry.sdk._logs.export'",
                      name="opentelemetry.sdk._logs.export")
    message = missing_extra_message("processor", exc)
    assert "ConsoleLogRecordExporter" in message and "older than otel-ml supports" in message
    assert "pip install -U 'otel-ml[processor,sdk]'" in message


def test_stack_without_a_subcommand_prints_its_usage(capsys):
    assert main(["stack"]) == 2
    assert "export" in capsys.readouterr().out


def test_an_os_error_is_one_line_naming_the_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    # a directory cannot be created under a regular file: the stack export reports it in one line
    assert main(["stack", "export", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("otel-ml stack: error: ") and str(blocker) in err
