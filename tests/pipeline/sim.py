"""A simulated render node for tests of the pipeline's steps: tasks finish at once (as
FakeRenderBackend decides) and a successful task leaves the files a real one would
(frames, inspect.json, a real MP4 made by FFmpeg with the right frame count, markers)
in a FakeBlobStore. Real Blender and FFmpeg runs are the e2e tests' business."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import imageio_ffmpeg

from shared.adapters.fake_blob_store import FakeBlobStore
from shared.adapters.fake_render_backend import FakeRenderBackend
from shared.tasks import TaskResult, TaskSpec, TaskState, TaskStatus, UploadCondition


@functools.cache
def mp4_with_frames(count: int, fps: int = 24) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc=size=64x36:rate={fps}", "-frames:v", str(count), "-pix_fmt", "yuv420p",
                        "-c:v", "libx264", "-movflags", "+faststart", "-y", str(out)], check=True)
        return out.read_bytes()


def _flag_values(argv: Sequence[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


FAILED_STDERR = b"Error: simulated render failure"
# What inspecting a .blend finds unless told otherwise: one scene, as Blender's defaults.
DEFAULT_INSPECTION = {"active_scene": "Scene", "blender_version": "5.0.1", "scenes": [{
    "name": "Scene", "frame_start": 1, "frame_end": 250, "frame_step": 1, "fps": 24, "fps_base": 1.0,
    "resolution_x": 1920, "resolution_y": 1080, "resolution_percentage": 100, "engine": "BLENDER_EEVEE"}]}


def frame_bytes(bundle: bytes) -> bytes:
    """What a simulated frame holds: which bundle bytes it was rendered from."""
    return b"\x89PNG frame of " + hashlib.sha256(bundle).hexdigest().encode()


class SimulatedBackend(FakeRenderBackend):
    def __init__(self, blobs: FakeBlobStore, *, inspection: dict[str, Any] | None = None,
                 fail_ids: Sequence[str] = (), video_frames: int | None = None,
                 failed_stderr: bytes = FAILED_STDERR, failure: str | None = None,
                 exit_codes: dict[str, int] | None = None, lose_frames: Sequence[str] = ()) -> None:
        super().__init__(fail_ids=fail_ids, exit_codes=exit_codes)
        self.blobs = blobs
        self.inspection = inspection or DEFAULT_INSPECTION
        self.video_frames = video_frames  # None: as many as the stitch asks for
        self.failed_stderr = failed_stderr  # what a failed task leaves in its stderr.txt
        self.failure = failure  # the backend's reason for a failed task, if not "exit code N"
        self.lose_frames = set(lose_frames)  # tasks whose frames the store loses after they upload
        self._settled: set[tuple[str, str]] = set()

    def list_tasks(self, job_id: str) -> list[TaskState]:
        states = super().list_tasks(job_id)
        self._settle(job_id)
        return [self._with_failure(s) for s in states]

    def get_task(self, job_id: str, task_id: str) -> TaskState:
        state = super().get_task(job_id, task_id)
        self._settle(job_id)
        return self._with_failure(state)

    def enable_job(self, job_id: str) -> None:
        super().enable_job(job_id)
        self._settle(job_id)

    def _settle(self, job_id: str) -> None:
        """A task leaves its files when it completes (at once, or after its job is enabled)."""
        for task in self.jobs[job_id].tasks.values():
            key = (job_id, task.spec.id)
            if task.state.status is TaskStatus.COMPLETED and key not in self._settled:
                self._settled.add(key)
                self._leave_outputs(task.spec, task.state.result == TaskResult.SUCCESS, task.state.exit_code or 0)

    def _with_failure(self, state: TaskState) -> TaskState:
        if self.failure is not None and state.result == TaskResult.FAILURE:
            return replace(state, failure=self.failure)
        return state

    def _bundle_bytes(self, task: TaskSpec) -> bytes:
        """The bundle the task downloads, read when it runs, as a node does."""
        for resource in task.resource_files:
            if resource.blob and not resource.path.startswith("tools/"):
                return self.blobs.download(resource.container, resource.blob)
        return b""

    def add_tasks(self, job_id: str, tasks: Sequence[TaskSpec]) -> None:
        super().add_tasks(job_id, tasks)
        self._settle(job_id)

    def _leave_outputs(self, task: TaskSpec, ok: bool, exit_code: int) -> None:
        argv = list(task.argv)
        expected = _flag_values(argv, "--expect")
        for out in task.output_files:
            if out.condition == UploadCondition.SUCCESS and not ok:
                continue
            if out.condition == UploadCondition.FAILURE and ok:
                continue
            if out.pattern.startswith("frames/"):
                if task.id in self.lose_frames:
                    continue  # uploaded, acknowledged, then lost (a store restarted without them)
                content = frame_bytes(self._bundle_bytes(task))
                for path in expected:
                    self.blobs.upload(out.container, out.prefix + PurePosixPath(path).name, content,
                                      overwrite=True)
            elif out.pattern == "inspect.json":
                self.blobs.upload(out.container, out.prefix, json.dumps(self.inspection).encode(), overwrite=True)
            elif out.pattern.endswith(".mp4"):
                count = self.video_frames or int(_flag_values(argv, "-frames:v")[0])
                self.blobs.upload(out.container, out.prefix, mp4_with_frames(count), overwrite=True)
            elif out.pattern == "marker.json":
                marker = {"taskId": task.id, "status": "succeeded" if ok else "failed", "exitCode": exit_code}
                self.blobs.upload(out.container, out.prefix, json.dumps(marker).encode(), overwrite=True)
            elif out.pattern.startswith("../std"):
                self.blobs.upload(out.container, out.prefix + "stderr.txt",
                                  b"" if ok else self.failed_stderr, overwrite=True)
