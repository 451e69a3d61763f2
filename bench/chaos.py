"""Chaos: each component of the local stack killed with kill -9 at a random moment of a
render job, then started again the way the stack starts it.

One stack serves the whole run: a warm-up job, then trials in pairs between undisturbed
jobs. Per trial, a new bundle is uploaded (a tiny scene: 4 frames in chunks of 2, 64x36,
1 sample), and after a random delay within an undisturbed job's duration one component —
Azurite, MariaDB, the Cosmos server, localbatch, devhost, or every one of them at once —
is killed and restarted at once. Reported against the targets:

- jobs completed / trials (a job may end `bundle_missing` only if its upload was never
  acknowledged; here every upload is retried until it is, so each job must complete);
- acknowledged blobs lost: every uploaded bundle and every frame, completion marker and
  video the pipeline listed, checked after each trial and once more at the end of the run;
- tasks rerun (localbatch's attempts beyond an undisturbed job's task count, from its log)
  against the tasks running at the moment of the kill (localbatch's task list just before);
- the median overhead of a trial's job against the undisturbed jobs just before and after it.

    python -m bench chaos --trials 2        # 2 trials per component (default 2)
    python -m bench.chaos --trials 1 [--smoke] [--json OUT]
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.chaos_stack import COMPONENTS, BlobWitness, kill9, restart, task_starts, wait_until
from bench.common import ROOT, Report, main, median, run_guarded

NAME = "chaos"
TITLE = "Chaos (kill -9 of each component during a render, then a restart)"
TRIALS = 2  # per component; --trials N
OVERHEAD_TARGET_S = 5.0
JOB_TIMEOUT_S = 240.0
FRAMES = 4  # two chunks of 2: both slots busy, so a kill finds tasks running
SMOKE_FRAMES = 2
SMOKE_COMPONENTS = ("cosmos",)
SEED = 10
RESTART_ATTEMPTS = 3
TERMINAL = ("completed", "failed", "cancelled")


def make_bundle(work: Path, frames: int) -> bytes:
    blend, bundle = work / "shot.blend", work / "shot.zip"
    subprocess.run([sys.executable, str(ROOT / "samples" / "make_scene.py"), str(blend), "--frames", str(frames),
                    "--width", "64", "--height", "36", "--samples", "1", "--bundle", str(bundle),
                    "--chunk-size", "2"], check=True, stdout=subprocess.DEVNULL)
    return bundle.read_bytes()


def upload(info: Any, witness: BlobWitness, name: str, data: bytes) -> tuple[str, float]:
    """Uploads until the store acknowledges it; (job id, when the first attempt began)."""
    from azure.storage.blob import BlobServiceClient

    from shared.job_document import upload_job_id

    started = time.time()
    for attempt in range(60):
        try:
            blob = BlobServiceClient.from_connection_string(info.storage_connection_string).get_blob_client(
                "scenes", name)
            result = blob.upload_blob(data, overwrite=True)
        except Exception:  # not acknowledged: a client uploads again
            if attempt == 59:
                raise
            time.sleep(1)
            continue
        witness.acknowledged_bundle(name, data)
        return upload_job_id(blob.url, str(result["etag"])), started
    raise AssertionError("unreachable")


def job_document(info: Any, job_id: str) -> dict[str, Any] | None:
    from stack.local import api_request

    status, body = api_request(info, "GET", f"/jobs/{job_id}", timeout=5)
    return body if status == 200 and isinstance(body, dict) else None


def finished(info: Any, job_id: str) -> dict[str, Any] | None:
    doc = job_document(info, job_id)
    return doc if doc and doc.get("status") in TERMINAL else None


def running_tasks(info: Any, job_id: str) -> list[str]:
    from shared.adapters.local_batch_backend import LocalBatchBackend

    try:
        tasks = LocalBatchBackend(info.localbatch_url, key=info.localbatch_key, timeout=2).list_tasks(job_id)
    except Exception:  # no job at localbatch yet (still validating), or localbatch down
        return []
    return sorted(t.id for t in tasks if t.status.value == "running")


def one_job(state: dict[str, Any], witness: BlobWitness, name: str, data: bytes, component: str | None,
            delay: float) -> dict[str, Any]:
    """Uploads one bundle, kills `component` `delay` s after the upload began (if any), restarts it
    and waits for the job; what happened."""
    stack, info = state["stack"], state["info"]
    job_id, started = upload(info, witness, name, data)
    witness.watch(job_id)
    trial: dict[str, Any] = {"component": component, "blob": name, "jobId": job_id}
    # Watched from its own thread, so a job that ends while a component restarts is seen then,
    # not only once the restart is over (unless the API itself is what restarts).
    seen: dict[str, Any] = {}
    watcher = threading.Thread(target=_watch_until_finished, args=(info, job_id, seen), daemon=True)
    watcher.start()
    try:
        if component is not None:
            time.sleep(max(0.0, started + delay - time.time()))
            doc = job_document_or_none(info, job_id)
            trial["statusAtKill"] = doc.get("status") if doc else None
            trial["runningAtKill"] = running_tasks(info, job_id)
            trial["killedAt"] = round(time.time() - started, 2)
            kill9(stack, component)
            t0 = time.monotonic()
            stack = state["stack"] = restart_until_up(stack, info, component, trial)
            trial["restartSeconds"] = round(time.monotonic() - t0, 2)
        watcher.join(timeout=max(0.0, started + JOB_TIMEOUT_S - time.time()))
        doc = seen.get("doc")
        trial["seconds"] = round(seen.get("at", time.time()) - started, 2)
    finally:
        witness.stop_watching()
    try:
        witness.see(job_id, witness.list_outputs(job_id))
    except Exception:  # counted as lost below if the store really dropped them
        pass
    trial["status"] = doc.get("status") if doc else "timeout"
    trial["error"] = doc.get("error") if doc else None
    trial["starts"] = dict(task_starts(info, job_id))
    trial["outputsSeen"] = len(witness.outputs.get(job_id, ()))
    return trial


def _watch_until_finished(info: Any, job_id: str, seen: dict[str, Any]) -> None:
    doc = wait_until(lambda: finished(info, job_id), JOB_TIMEOUT_S, interval=0.2)
    if doc:
        seen.update(doc=doc, at=time.time())


def restart_until_up(stack: Any, info: Any, component: str, trial: dict[str, Any]) -> Any:
    """Starts the component again, as a supervisor would, until it serves; failed starts are recorded."""
    from stack.services import ServiceError

    trial["failedStarts"] = []
    for attempt in range(RESTART_ATTEMPTS):
        try:
            return restart(stack, info, component)
        except ServiceError as exc:
            # the last line says why (the log tail before it is the service's own output)
            trial["failedStarts"].append(str(exc).strip().splitlines()[-1][:300])
            if attempt == RESTART_ATTEMPTS - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def job_document_or_none(info: Any, job_id: str) -> dict[str, Any] | None:
    try:
        return job_document(info, job_id)
    except Exception:  # devhost may be the one about to be killed, busy or down
        return None


def plan(components: tuple[str, ...], trials: int, rng: random.Random) -> list[str]:
    """Each component `trials` times, in rounds, so a slow machine hour hits all of them alike."""
    order: list[str] = []
    for _ in range(trials):
        round_ = list(components)
        rng.shuffle(round_)
        order += round_
    return order


def undisturbed(state: dict[str, Any], witness: BlobWitness, data: bytes, number: int) -> dict[str, Any]:
    job = one_job(state, witness, f"chaos/undisturbed-{number}.zip", data, None, 0.0)
    if job["status"] != "completed":
        raise RuntimeError(f"an undisturbed job did not complete: {job}")
    return job


def body(report: Report, components: tuple[str, ...], trials: int, warmup: bool, frames: int = FRAMES,
         after: bool = True) -> None:
    """Trials in pairs between undisturbed jobs: each trial's overhead is against its two
    neighbours, so load from other work on the machine shifts both alike (with `after` False,
    only the one before: the smoke run's single trial)."""
    from stack.local import LocalStack

    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        work = Path(tmp)
        data = make_bundle(work, frames)
        stack = LocalStack(work / "stack", settings_overrides={"POLL_INTERVAL_SECONDS": "2"})
        info = stack.start()
        state: dict[str, Any] = {"stack": stack, "info": info}
        try:
            witness = BlobWitness(info.storage_connection_string)
            time.sleep(2)  # let the blob watcher finish its first passes
            if warmup:
                one_job(state, witness, "chaos/warmup.zip", data, None, 0.0)
            refs = [undisturbed(state, witness, data, 0)]
            order = plan(components, trials, rng)
            results = []
            for i, component in enumerate(order):
                delay = rng.uniform(0.0, 0.9 * refs[-1]["seconds"])
                trial = one_job(state, witness, f"chaos/{component}-{i}.zip", data, component, delay)
                trial["lostSoFar"] = witness.lost()
                results.append(trial)
                if after and (i % 2 == 1 or i == len(order) - 1):
                    refs.append(undisturbed(state, witness, data, len(refs)))
                print(f"  {component:<10} killed at {trial['killedAt']:5.1f} s, running "
                      f"{len(trial['runningAtKill'])}, {sum(trial['starts'].values())} task starts, "
                      f"{trial['status']} in {trial['seconds']:.1f} s", flush=True)
            base_tasks = max(len(r["starts"]) for r in refs)
            for i, trial in enumerate(results):
                trial["reruns"] = sum(trial["starts"].values()) - base_tasks
                neighbours = refs[i // 2:i // 2 + 2]
                trial["reference"] = round(median([r["seconds"] for r in neighbours]), 2)
            lost = witness.lost()
            acknowledged = witness.count()
        finally:
            state["stack"].stop()
    summarize(report, results, refs, lost, acknowledged)


def summarize(report: Report, results: list[dict[str, Any]], refs: list[dict[str, Any]],
              lost: dict[str, list[str]], acknowledged: int) -> None:
    completed = [t for t in results if t["status"] == "completed"]
    # bundle_missing is only fair for an upload never acknowledged: every upload here was acknowledged
    report.add("jobs completed / trials", len(completed), f"of {len(results)}", "==", len(results))
    report.add("acknowledged blobs (bundles, frames, markers, videos)", acknowledged, "blobs")
    report.add("acknowledged blobs lost", sum(len(v) for v in lost.values()), "blobs", "==", 0)
    running = sum(len(t["runningAtKill"]) for t in results)
    reruns = sum(max(0, t["reruns"]) for t in results)
    report.add("tasks rerun, all trials", reruns, "tasks")
    report.add("tasks running at the kills, all trials", running, "tasks")
    over = [t for t in results if t["reruns"] > len(t["runningAtKill"])]
    report.add("trials that reran more tasks than were running at the kill", len(over), "trials", "==", 0)
    overheads = [t["seconds"] - t["reference"] for t in completed]
    report.add(f"undisturbed job: upload → completed seen (median of {len(refs)})",
               round(median([r["seconds"] for r in refs]), 2), "s")
    report.add("median overhead of a trial's job (against its undisturbed neighbours)",
               round(median(overheads), 2) if overheads else None, "s", "<=", OVERHEAD_TARGET_S)
    for component in dict.fromkeys(t["component"] for t in results):
        mine = [t for t in results if t["component"] == component]
        done = [t for t in mine if t["status"] == "completed"]
        mine_overheads = [t["seconds"] - t["reference"] for t in done]
        report.add(f"  {component}: completed / trials", len(done), f"of {len(mine)}")
        report.add(f"  {component}: reruns / running at the kill",
                   sum(max(0, t["reruns"]) for t in mine), f"/ {sum(len(t['runningAtKill']) for t in mine)}")
        report.add(f"  {component}: median overhead", round(median(mine_overheads), 2) if mine_overheads
                   else None, "s")
        report.add(f"  {component}: restart (kill → serving again)",
                   round(median([t["restartSeconds"] for t in mine]), 2), "s")
    failed_starts = [(t["component"], msg) for t in results for msg in t.get("failedStarts", [])]
    report.add("restarts that failed and were tried again", len(failed_starts), "starts")
    for component, msg in failed_starts:
        report.notes.append(f"{component} did not start again at once: {msg}")
    for t in results:
        if t["status"] != "completed":
            report.notes.append(f"{t['component']} killed at {t['killedAt']} s: job {t['jobId']} ended "
                                f"{t['status']}: {t['error']}")
        elif t["reruns"] > len(t["runningAtKill"]):
            report.notes.append(f"{t['component']} killed at {t['killedAt']} s: {t['reruns']} reruns, "
                                f"{len(t['runningAtKill'])} running at the kill ({t['starts']})")
    for job_id, names in lost.items():
        report.notes.append(f"lost under {job_id}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}")
    report.details.update(undisturbed=refs, trials=results, lost=lost, seed=SEED)


def run(smoke: bool = False) -> Report:
    if smoke:
        return run_guarded(NAME, TITLE, lambda r: body(r, SMOKE_COMPONENTS, 1, warmup=False,
                                                        frames=SMOKE_FRAMES, after=False))
    return run_guarded(NAME, TITLE, lambda r: body(r, COMPONENTS, TRIALS, warmup=True))


def take_trials(argv: list[str]) -> list[str]:
    """Sets TRIALS from `--trials N` and returns the other arguments, which main() parses."""
    global TRIALS
    rest = list(argv)
    if "--trials" in rest:
        at = rest.index("--trials")
        try:
            TRIALS = int(rest[at + 1])
        except (IndexError, ValueError):
            raise SystemExit("--trials takes a number of trials per component") from None
        if TRIALS < 1:
            raise SystemExit("--trials must be 1 or more")
        del rest[at:at + 2]
    return rest


if __name__ == "__main__":
    sys.argv[1:] = take_trials(sys.argv[1:])
    raise SystemExit(main(run))
