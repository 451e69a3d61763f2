"""renderctl submit --chunk-size takes a number of frames or "auto", and sends what it took."""

from __future__ import annotations

import click
import pytest

from renderctl.cli import ChunkSize
from renderctl.submitting import SubmitOptions, request_body


@pytest.mark.parametrize(("given", "sent"), [("auto", "auto"), ("AUTO", "auto"), ("12", 12), ("1", 1)])
def test_a_chunk_size_is_a_number_of_frames_or_auto(given, sent):
    assert ChunkSize().convert(given, None, None) == sent
    assert request_body(SubmitOptions(chunk_size=sent), {})["chunkSize"] == sent


@pytest.mark.parametrize("given", ["0", "10001", "automatic", "", "2.5"])
def test_anything_else_is_refused_before_uploading(given):
    with pytest.raises(click.BadParameter):
        ChunkSize().convert(given, None, None)


def test_no_option_sends_no_chunk_size_so_the_pipeline_sizes_the_chunks():
    assert "chunkSize" not in request_body(SubmitOptions(), {})
