"""Batch tasks of a job: inspect the .blend, render a chunk, stitch the video.

Each task runs shared/node/task_runner.py on the node (shipped per job under
renders/<jobId>/tools/), which unpacks the bundle, runs Blender or FFmpeg,
checks what it wrote and leaves a completion marker. Output files are listed in
upload order: the marker last, because its arrival wakes the orchestration.

A render task is also watched: it PUTs a heartbeat (frames so far and their seconds)
to its own blob through RENDER_HEARTBEAT_URL, a write SAS for that one blob (a secret:
it is in the task's environment only, never in its argv or a log), makes a JPEG preview
of each frame with the FFmpeg named by RENDER_FFMPEG, and is stopped as stuck after
--stuck-after seconds without a new frame.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from shared import commands, names
from shared.adapters.blob_sas import cached_signer, write_url
from shared.bootstrap import Services
from shared.errors import PipelineError
from shared.job_document import Chunk, JobSource
from shared.job_spec import JobSpec
from shared.node import WATCH_SCRIPTS
from shared.pipeline import assets, layout
from shared.pipeline.estimates import stuck_after_seconds
from shared.planning import BlendInfo, expected_frame_files, render_threads, safe_name
from shared.tasks import OutputFile, ResourceFile, TaskSpec, UploadCondition

log = logging.getLogger(__name__)

NODE_SCRIPTS = ("task_runner.py", "apply_settings.py", "inspect_scene.py", "materialize.py",
                *WATCH_SCRIPTS)
NODE_DIR = Path(__file__).resolve().parent.parent / "node"
TOOLS = "tools"
BUNDLE_DIR = "bundle"
FRAMES_DIR = "frames"
MARKER = "marker.json"
PREVIEWS_DIR = "previews"       # the task runner's default --previews, relative to the working dir
HEARTBEAT_URL_ENV = "RENDER_HEARTBEAT_URL"
FFMPEG_ENV = "RENDER_FFMPEG"
NODE_FFMPEG = "ffmpeg"          # resolved on the node's PATH, as the stitch task's argv[0] is
# A heartbeat URL must outlive the task: its time waiting for a slot, then at most its timeout.
HEARTBEAT_URL_MARGIN = timedelta(hours=1)


def node_scripts() -> tuple[str, ...]:
    return NODE_SCRIPTS


def upload_node_scripts(svc: Services, job_id: str) -> None:
    """The scripts a node runs, frozen per job so that a redeploy never changes a running job."""
    for name in node_scripts():
        svc.blobs.upload(svc.settings.renders_container, layout.tools_prefix(job_id) + name,
                         (NODE_DIR / name).read_bytes(), overwrite=True, content_type="text/x-python")


def frame_name(doc: dict[str, Any]) -> str:
    """Frame files are named after the .blend: shot010.blend → shot010_0001.png."""
    blend = (doc.get("bundle") or {}).get("blendPath") or "frame"
    return safe_name(PurePosixPath(blend).stem)


def _bundle_blob(doc: dict[str, Any]) -> tuple[str, str]:
    """(container, blob) every task of the job downloads: the job's input copy of the validated
    bundle, so that an overwrite of the scene blob mid-job changes nothing. Jobs validated
    before input copies existed have none and read the source blob, as they always did."""
    copy = doc.get("input")
    if copy:
        return copy["container"], copy["blob"]
    source = JobSource.from_json(doc["source"])
    return source.container, source.blob_name


def _bundle(svc: Services, doc: dict[str, Any]) -> tuple[ResourceFile, str, str | None]:
    """(resource file, path of the .blend in the working dir, zip to extract or None)."""
    if assets.is_manifest_job(doc):  # scene files by content: shared/pipeline/assets.py
        return assets.manifest_bundle(doc, BUNDLE_DIR)
    container, blob = _bundle_blob(doc)
    bundle = doc["bundle"]
    if bundle["kind"] == "zip":
        return (ResourceFile(container=container, blob=blob, path="scene.zip"),
                f"{BUNDLE_DIR}/{bundle['blendPath']}", "scene.zip")
    blend = f"{BUNDLE_DIR}/{PurePosixPath(bundle['blendPath']).name}"
    return ResourceFile(container=container, blob=blob, path=blend), blend, None


def _tools(svc: Services, job_id: str) -> tuple[ResourceFile, ...]:
    return tuple(ResourceFile(container=svc.settings.renders_container, blob=layout.tools_prefix(job_id) + name,
                              path=f"{TOOLS}/{name}") for name in node_scripts())


def _logs_and_marker(svc: Services, job_id: str, task_id: str) -> tuple[OutputFile, ...]:
    renders = svc.settings.renders_container
    return (
        OutputFile(pattern="../std*.txt", container=renders, prefix=layout.logs_prefix(job_id, task_id),
                   condition=UploadCondition.COMPLETION),
        OutputFile(pattern=MARKER, container=renders, prefix=layout.marker_blob(job_id, task_id),
                   condition=UploadCondition.COMPLETION),
    )


def _runner(svc: Services, task_id: str, inner: list[str], *, zip_path: str | None,
            expected: list[str] | None = None, frames: str | None = None) -> tuple[str, ...]:
    return tuple(commands.task_runner_argv(
        inner, task_id=task_id, marker=MARKER, runner=f"{TOOLS}/task_runner.py",
        bundle=zip_path, extract_to=BUNDLE_DIR if zip_path else None,
        max_entries=svc.settings.bundle_max_entries, max_unpacked_bytes=svc.settings.bundle_max_unpacked_bytes,
        expected_files=expected, frames=frames))


def inspect_task(svc: Services, doc: dict[str, Any]) -> TaskSpec:
    job_id = doc["id"]
    bundle, blend, zip_path = _bundle(svc, doc)
    inner = commands.inspect_argv(blend, out="inspect.json", script=f"{TOOLS}/inspect_scene.py")
    outputs = (OutputFile(pattern="inspect.json", container=svc.settings.renders_container,
                          prefix=layout.inspect_blob(job_id), condition=UploadCondition.SUCCESS),
               *_logs_and_marker(svc, job_id, names.INSPECT_TASK_ID))
    return assets.with_assets(svc, doc, TaskSpec(  # a manifest job materializes its files first
        id=names.INSPECT_TASK_ID, argv=_runner(svc, names.INSPECT_TASK_ID, inner, zip_path=zip_path),
        resource_files=(bundle, *_tools(svc, job_id)), output_files=outputs,
        max_wall_clock_seconds=min(svc.settings.task_timeout_seconds, 900)), marker=MARKER, bundle_dir=BUNDLE_DIR)


def blend_info_from_inspection(raw: dict[str, Any], scene: str | None) -> BlendInfo:
    """The scene the job renders (the manifest's choice, else the active one) as BlendInfo."""
    from shared.errors import ValidationError
    from shared.job_spec import Resolution

    scenes = {s["name"]: s for s in raw.get("scenes", [])}
    name = scene or raw.get("active_scene")
    if name not in scenes:
        raise ValidationError(f"the .blend has no scene {name!r} (it has {', '.join(sorted(scenes))})",
                              code="scene_not_found", field="scene")
    s = scenes[name]
    percentage = int(s.get("resolution_percentage", 100)) or 100
    width = int(s["resolution_x"]) * percentage // 100
    height = int(s["resolution_y"]) * percentage // 100
    try:
        resolution = Resolution(width, height)
    except ValidationError as exc:
        raise ValidationError(f"the .blend's scene {name!r} renders at {width}x{height} ({exc.message}); "
                              "set resolution in render.json", field="resolution") from None
    fps = float(s["fps"]) / float(s.get("fps_base") or 1.0)
    return BlendInfo(scene=name, frame_start=int(s["frame_start"]), frame_end=int(s["frame_end"]),
                     frame_step=int(s.get("frame_step") or 1), fps=round(fps, 6),
                     resolution=resolution, engine=s.get("engine"))


def stuck_after(svc: Services, doc: dict[str, Any]) -> int:
    """The job's stuckAfterSeconds, else the larger of the floor and 5× its median frame so far
    (a requeued chunk's round knows the median; the first round has only the floor)."""
    manifest = doc.get("manifest") or {}
    median = (doc.get("progress") or {}).get("secondsPerFrame")
    return stuck_after_seconds(manifest.get("stuckAfterSeconds"), svc.settings.default_stuck_after_seconds,
                               median if isinstance(median, int | float) else None)


def _watch_environment(svc: Services, job_id: str, task_id: str) -> dict[str, str]:
    lifetime = timedelta(seconds=svc.settings.task_timeout_seconds) + HEARTBEAT_URL_MARGIN
    try:
        url = write_url(cached_signer(svc.settings), svc.settings.renders_container,
                        layout.heartbeat_blob(job_id, task_id), lifetime)
    except PipelineError as exc:  # heartbeats are a help, never a condition: the marker still reports
        log.warning("job %s task %s: no heartbeat URL: %s", job_id, task_id, exc)
        return {FFMPEG_ENV: NODE_FFMPEG}
    return {HEARTBEAT_URL_ENV: url, FFMPEG_ENV: NODE_FFMPEG}


def _with_runner_flags(argv: tuple[str, ...], flags: list[str]) -> tuple[str, ...]:
    """The runner's own flags go before its first `--`; what follows is the command's."""
    split = argv.index("--")
    return (*argv[:split], *flags, *argv[split:])


def render_task(svc: Services, doc: dict[str, Any], spec: JobSpec, chunk: Chunk, task_id: str) -> TaskSpec:
    job_id = doc["id"]
    bundle, blend, zip_path = _bundle(svc, doc)
    name = frame_name(doc)
    inner = commands.render_argv(
        blend, output_dir=FRAMES_DIR, name=name, frames=list(chunk.frames), scene=spec.scene,
        fmt=spec.format.value, engine=spec.engine, samples=spec.samples,
        threads=render_threads(svc.settings.node_cores, svc.settings.task_slots_per_node,
                               svc.settings.render_threads),
        resolution=(spec.resolution.width, spec.resolution.height), fps=spec.fps,
        settings_script=f"{TOOLS}/apply_settings.py")
    expected = [f"{FRAMES_DIR}/{f}" for f in expected_frame_files(name, chunk, spec.format)]
    renders = svc.settings.renders_container
    outputs = (OutputFile(pattern=f"{FRAMES_DIR}/*", container=renders,
                          prefix=layout.frames_prefix(job_id), condition=UploadCondition.SUCCESS),
               # Also after a failure: the frames a stuck or failed task did finish are worth seeing.
               OutputFile(pattern=f"{PREVIEWS_DIR}/*.jpg", container=renders,
                          prefix=layout.previews_prefix(job_id), condition=UploadCondition.COMPLETION),
               *_logs_and_marker(svc, job_id, task_id))
    argv = _runner(svc, task_id, inner, zip_path=zip_path, expected=expected, frames=chunk.frames.to_spec())
    return assets.with_assets(svc, doc, TaskSpec(  # a manifest job materializes its files first
        id=task_id, argv=_with_runner_flags(argv, ["--stuck-after", str(stuck_after(svc, doc))]),
        resource_files=(bundle, *_tools(svc, job_id)), output_files=outputs,
        environment=_watch_environment(svc, job_id, task_id),
        max_wall_clock_seconds=svc.settings.task_timeout_seconds), marker=MARKER, bundle_dir=BUNDLE_DIR)


def stitch_task(svc: Services, doc: dict[str, Any], spec: JobSpec,
                task_id: str = names.STITCH_TASK_ID) -> TaskSpec:
    job_id = doc["id"]
    assert spec.video is not None
    name = frame_name(doc)
    frames = list(spec.frames)
    # A prefix resource keeps each blob's full name below its path, as Batch does.
    frame_dir = f"{FRAMES_DIR}/{layout.frames_prefix(job_id).rstrip('/')}"
    inner = commands.stitch_argv(
        frame_dir=frame_dir, name=name, ext=spec.format.extension, frames=frames, fps=spec.fps,
        output=spec.video.name, codec=spec.video.codec, crf=spec.video.crf)
    renders = svc.settings.renders_container
    outputs = (OutputFile(pattern=spec.video.name, container=renders,
                          prefix=layout.video_blob(job_id, spec.video.name), condition=UploadCondition.SUCCESS),
               *_logs_and_marker(svc, job_id, task_id))
    frames_in = ResourceFile(container=renders, prefix=layout.frames_prefix(job_id), path=FRAMES_DIR)
    return TaskSpec(id=task_id,
                    argv=_runner(svc, task_id, inner, zip_path=None, expected=[spec.video.name]),
                    resource_files=(frames_in, *_tools(svc, job_id)), output_files=outputs,
                    max_wall_clock_seconds=svc.settings.task_timeout_seconds)
