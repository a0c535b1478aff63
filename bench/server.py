"""Server benchmark: N concurrent HTTP clients posting real photos to /v1/predictions.

Starts ``python -m model_server`` on a free port with a fresh data directory (sharing the
repository's model cache) unless ``--url`` names a running server, then prints requests/s and
p50/p99 latency for each N, and next to them the in-process batch-32 throughput of the same
production classifier (forward pass on prepared inputs, and from JPEG bytes), measured in this
process before the server starts and after it has stopped, so the two never compete for the
CPU; the ratios use the mean of the two, and a gap between them shows the machine's load moved.

    .venv/bin/python bench/server.py [--clients 1 8 32] [--seconds 15] [--url URL]
        [--server-repo ../other-checkout]   # that checkout's server, this bench's clients
        [--httpx]   # clients on httpx, as before: ~2 CPU ms more per request, on the same CPUs
        [--server-env CREATURE_VIS_SERVER__BATCH_MAX=16]   # a setting of the server alone

The clients run on the server's CPUs; each keeps one connection (``testkit.upload_client``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from testkit.upload_client import drive  # noqa: E402

PHOTOS = REPO.parent / "shared" / "datasets" / "animals-dev"


def load_photos(limit: int) -> list[bytes]:
    paths = sorted(p for p in PHOTOS.glob("*/*.jpg") if not p.name.startswith("cifar_"))
    step = max(1, len(paths) // limit)
    return [p.read_bytes() for p in paths[::step][:limit]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    data_dir: Path,
    port: int,
    threads: int,
    script: str | None,
    repo: Path = REPO,
    *,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    (data_dir / "cache").symlink_to(REPO / "var" / "cache", target_is_directory=True)
    env = {
        **os.environ,
        "CREATURE_VIS_DATA_DIR": str(data_dir),
        "CREATURE_VIS_SERVER__PORT": str(port),
        "CREATURE_VIS_MODEL__THREADS": str(threads),
        # One address sends everything here: the abuse limits (0 = none) would refuse it.
        "CREATURE_VIS_SERVER__REQUESTS_PER_MINUTE_PER_ADDRESS": "0",
        "CREATURE_VIS_SERVER__REQUESTS_PER_MINUTE_PER_SESSION": "0",
        "CREATURE_VIS_SERVER__STORED_MB_PER_DAY": "0",
        "PYTHONPATH": str(repo),
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, script] if script else [sys.executable, "-m", "model_server"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int | None) -> float:
    """User plus system CPU time of a process (Linux), 0 when unknown."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase_seconds(url: str) -> dict[str, tuple[float, float]]:
    """Return (sum, count) per prediction phase from the server's /metrics."""
    found: dict[str, list[float]] = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        for suffix, slot in (("_sum", 0), ("_count", 1)):
            prefix = f'creature_vis_prediction_phase_seconds{suffix}{{phase="'
            if line.startswith(prefix):
                name = line[len(prefix) :].split('"', 1)[0]
                found.setdefault(name, [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
        for suffix, slot in (("_sum", 0), ("_count", 1)):
            if line.startswith(f"creature_vis_batch_size{suffix} "):
                found.setdefault("batch", [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
    return {name: (pair[0], pair[1]) for name, pair in found.items()}


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become ready")


def in_process_batch32(
    photos: list[bytes], threads: int, repeats: int = 8
) -> tuple[float, float, float]:
    """Return forward img/s, from-JPEG img/s and forward CPU ms/img of the classifier, batch 32."""
    from core.images import intake
    from core.model.handle import ModelHandle
    from core.model.preprocess import RESIZE_SHORT, to_batch
    from core.settings import load_settings

    with tempfile.TemporaryDirectory() as temp:
        data_dir = Path(temp)
        (data_dir / "cache").symlink_to(REPO / "var" / "cache", target_is_directory=True)
        settings = load_settings(data_dir=data_dir, model={"threads": threads})
        classifier = ModelHandle.from_settings(settings).get()
        batch_photos = photos[:32]
        images = [intake(d, draft_size=RESIZE_SHORT).image for d in batch_photos]
        prepared = to_batch(images)
        classifier.predict_batch(prepared)
        times = []
        cpu_before = time.process_time()
        for _ in range(repeats):
            started = time.perf_counter()
            classifier.predict_batch(prepared)
            times.append(time.perf_counter() - started)
        cpu_ms = (time.process_time() - cpu_before) / (32 * repeats) * 1000
        forward = 32 / statistics.median(times)
        times = []
        for _ in range(max(2, repeats // 2)):
            started = time.perf_counter()
            decoded = [intake(d, draft_size=RESIZE_SHORT).image for d in batch_photos]
            classifier.predict(decoded)
            times.append(time.perf_counter() - started)
        from_jpeg = 32 / statistics.median(times)
    return forward, from_jpeg, cpu_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2, help="model threads (both sides)")
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument(
        "--httpx", action="store_true", help="clients on httpx (costlier per request)"
    )
    parser.add_argument("--server-script", help="start the server with this script, not -m")
    parser.add_argument(
        "--server-repo",
        type=Path,
        default=REPO,
        help="start the model_server of this checkout (to compare two side by side)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server alone, e.g. CREATURE_VIS_SERVER__BATCH_MAX=16 (repeatable)",
    )
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.server_env)
    photos = load_photos(args.photos)
    print(
        f"server from {args.server_repo}; load average {os.getloadavg()[0]:.1f} at start; "
        f"{len(photos)} real photos from {PHOTOS}, {os.cpu_count()} CPUs, "
        f"model threads {args.threads}, clients on {'httpx' if args.httpx else 'one socket each'}"
        + "".join(f"; server {name}={value}" for name, value in server_env.items())
    )
    results = {}
    forward_before = in_process_batch32(photos, args.threads)
    with tempfile.TemporaryDirectory() as temp:
        process = None
        url = args.url
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process = start_server(Path(temp), port, args.threads, args.server_script,
                                   args.server_repo, extra_env=server_env)  # fmt: skip
        try:
            wait_ready(url)
            pid = process.pid if process is not None else None
            for clients in args.clients:
                before = cpu_seconds(pid), time.process_time()
                phases_before = phase_seconds(url)
                result = asyncio.run(drive(url, photos, clients, args.seconds, lean=not args.httpx))
                phases_after = phase_seconds(url)
                for name, (total, count) in phases_after.items():
                    old_total, old_count = phases_before.get(name, (0.0, 0.0))
                    served_phase = max(1.0, count - old_count)
                    result[f"phase_{name}"] = (total - old_total) / served_phase * 1000
                result["phase_batch"] /= 1000  # a mean batch size, not a time
                served = result["n"] + result["warm"]
                result["server_cpu"] = (cpu_seconds(pid) - before[0]) / served * 1000
                result["client_cpu"] = (time.process_time() - before[1]) / served * 1000
                results[clients] = result
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    forward_after = in_process_batch32(photos, args.threads)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(
        f"in-process batch-32 forward pass: {forward_before[0]:.1f} photos/s before the server, "
        f"{forward_after[0]:.1f} after"
    )
    forward = (
        (forward_before[0] + forward_after[0]) / 2,
        (forward_before[1] + forward_after[1]) / 2,
        (forward_before[2] + forward_after[2]) / 2,
    )
    report(results, forward, server_measured=process is not None)
    return 0


def report(
    results: dict[int, dict[str, float]],
    forward: tuple[float, float, float],
    *,
    server_measured: bool,
) -> None:
    """Print the table, the in-process figures and the ratios of the largest N to them."""
    per_second, from_jpeg, forward_cpu = forward
    print(
        "\n| clients N | requests/s | p50 ms | p99 ms | requests | errors "
        "| server CPU ms/req | client CPU ms/req | intake / model / log ms | mean batch |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for clients, r in results.items():
        print(
            f"| {clients} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p99']:.0f} | "
            f"{r['n']:.0f} | {r['errors']:.0f} | {r['server_cpu']:.1f} | {r['client_cpu']:.1f} | "
            f"{r.get('phase_intake', 0):.0f} / {r.get('phase_model', 0):.0f} / "
            f"{r.get('phase_log', 0):.0f} | {r.get('phase_batch', 0):.1f} |"
        )
    print(
        f"\nin-process batch 32 (mean): {per_second:.1f} photos/s forward pass "
        f"({forward_cpu:.1f} CPU ms/photo), {from_jpeg:.1f} photos/s from JPEG bytes"
    )
    if not results:
        return
    most = max(results)
    top = results[most]
    print(
        f"served N={most} / in-process batch-32 forward: {top['rps'] / per_second:.2f} "
        f"(target >= 0.7); / from JPEG: {top['rps'] / from_jpeg:.2f}; "
        f"p99 at N={most}: {top['p99']:.0f} ms (target < 400)"
    )
    if server_measured:
        cpus = os.cpu_count() or 1
        print(
            f"server CPU beside the forward pass at N={most}: "
            f"{top['server_cpu'] - forward_cpu:.1f} ms/request; at full use of {cpus} CPUs, "
            f"forward + server + client CPU allow "
            f"{1000 * cpus / (top['server_cpu'] + top['client_cpu']):.0f} requests/s"
        )


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
