"""Errors as clients see them: one plain line, no traceback frames, no absolute paths, URLs kept."""

from __future__ import annotations

import pytest

from shared.pipeline.public_errors import MAX_MESSAGE_CHARS, plain_message, public_error


def test_a_traceback_keeps_only_its_exception_line():
    text = ('Traceback (most recent call last):\n  File "/srv/app/x.py", line 3, in f\n    g()\n'
            "ValueError: bad frame 7")
    assert plain_message(text) == "ValueError: bad frame 7"


def test_chained_tracebacks_keep_each_exception_line():
    text = ('Traceback (most recent call last):\n  File "a.py", line 1\nKeyError: x\n\n'
            "During handling of the above exception, another exception occurred:\n\n"
            'Traceback (most recent call last):\n  File "b.py", line 2\nRuntimeError: y')
    assert plain_message(text) == "KeyError: x RuntimeError: y"


@pytest.mark.parametrize(("text", "plain"), [
    ("cannot read /mnt/batch/tasks/wd/bundle/shot.blend", "cannot read <path>"),
    ('Cannot read file "/tmp/bundle-x1/bundle"', 'Cannot read file "<path>"'),
    (r"missing C:\batch\tasks\wd\frames", "missing <path>"),
    ("see http://127.0.0.1:10000/devstoreaccount1/renders/job-1/logs/x/stderr.txt",
     "see http://127.0.0.1:10000/devstoreaccount1/renders/job-1/logs/x/stderr.txt"),
    ("frames 1-24/2 and a/b/c.png stay", "frames 1-24/2 and a/b/c.png stay"),
])
def test_absolute_paths_go_and_urls_and_relative_names_stay(text, plain):
    assert plain_message(text) == plain


def test_a_long_message_is_cut_to_the_limit():
    assert len(plain_message("x" * 10_000) or "") == MAX_MESSAGE_CHARS


def test_public_error_keeps_code_field_and_plain_details():
    error = public_error({"code": "frames_failed", "message": "frames 1-2 failed", "field": "frames",
                          "details": {"chunks": [{"reason": "upload of /var/lib/x/frames failed", "exitCode": 1}]}})
    assert error == {"code": "frames_failed", "message": "frames 1-2 failed", "field": "frames",
                     "details": {"chunks": [{"reason": "upload of <path> failed", "exitCode": 1}]}}
