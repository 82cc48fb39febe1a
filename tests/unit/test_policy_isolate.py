"""The engine's isolated children: a crash is reported to the parent, and only to it."""

from __future__ import annotations

import ctypes
import faulthandler

import pytest

from deployforge.policy.isolate import Crash, Limits, run_isolated


def _segfault() -> None:
    ctypes.string_at(0)


def test_a_crashing_child_is_a_crash_and_dumps_nothing_on_the_users_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    faulthandler.enable()  # as under pytest or `python -X faulthandler`: the child inherits it
    result = run_isolated(_segfault, Limits())
    assert isinstance(result, Crash)
    err = capfd.readouterr().err
    assert "Fatal Python error" not in err and "Current thread" not in err
