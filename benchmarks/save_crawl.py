"""``save_crawl`` against the official SDK's pattern (issue 11).

A FakeServer in its own process holds one crawl of ``--screenshots`` (1,000)
screenshots (every 50th failed, so 980 have an image); each image is
``--size`` (50 KB) and takes ``--latency`` (20 ms) to serve.

- **ours**: ``ScreenshotCenterClient.save_crawl(crawl_id, dir,
  concurrency=32)`` — one crawl info, then every image streamed to disk.
- **official pattern**: what the official sync SDK does for each screenshot,
  ``client.screenshot.save_image(id, path)``: one ``urllib`` request (key in
  the query string, a new connection each time), then ``write_bytes``. It is
  run on the first ``--baseline`` (100) screenshots only, to keep the run short;
  screenshots/s is compared.

Both write every file; ``--dir`` picks where (default: a temporary folder in
``/dev/shm`` when there is one — on a busy ext4 disk, creating a file can cost
milliseconds, which then measures the disk rather than the client).

    python -m benchmarks.save_crawl [--screenshots 1000] [--baseline 100]
                                    [--concurrency 32] [--size 50000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from uprock_async import ScreenshotCenterClient
from uprock_async.testing import FakeServer

ROOT = Path(__file__).resolve().parent.parent


# -- the server process ----------------------------------------------------------


async def _serve(screenshots: int, size: int, latency: float) -> None:
    async with FakeServer(seed=1, record=False) as server:
        server.artifact_size = size
        server.artifact_latency = latency
        crawl_id = server.add_crawl(screenshots=screenshots)
        finished = [
            s["id"] for s in server.crawls[crawl_id]["screenshots"] if s["status"] == "finished"
        ]
        line = {
            "url": server.screenshotcenter_url,
            "key": server.api_key,
            "crawl_id": crawl_id,
            "finished": finished,
        }
        print(json.dumps(line), flush=True)
        # Serve until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, object]]:
    """Start the FakeServer process; its first stdout line describes the crawl."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.save_crawl",
        "--serve",
        f"--screenshots={args.screenshots}",
        f"--size={args.size}",
        f"--latency={args.latency}",
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    info: dict[str, object] = json.loads(proc.stdout.readline())
    return proc, info


# -- the two clients ----------------------------------------------------------------


def official_pattern(url: str, key: str, ids: list[int], folder: Path) -> float:
    """Seconds for the official SDK's loop: ``save_image`` one screenshot after another."""
    started = time.perf_counter()
    for shot_id in ids:
        query = urllib.parse.urlencode({"key": key, "id": shot_id})
        with urllib.request.urlopen(f"{url}/screenshot/thumbnail?{query}", timeout=30) as resp:
            data = resp.read()
        path = folder / f"{shot_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return time.perf_counter() - started


async def ours(
    url: str, key: str, crawl_id: int, folder: Path, concurrency: int
) -> tuple[float, int]:
    """Seconds for ``save_crawl`` (crawl info included) and the screenshots it saved."""
    async with ScreenshotCenterClient(key, base_url=url) as client:
        started = time.perf_counter()
        saved = await client.save_crawl(crawl_id, folder, concurrency=concurrency)
        elapsed = time.perf_counter() - started
    failed = [i for i, r in saved.items() if isinstance(r, Exception)]
    if failed:
        raise SystemExit(f"{len(failed)} screenshots failed, e.g. {saved[failed[0]]!r}")
    return elapsed, len(saved)


def main(argv: list[str] | None = None) -> None:
    """Run both and print screenshots/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument(
        "--dir",
        default=None,
        help="where to write the files (default: a temporary folder in /dev/shm if it "
        "exists, so the figures measure the clients rather than the disk)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.screenshots, args.size, args.latency))
        return

    proc, info = start_server(args)
    try:
        url, key = str(info["url"]), str(info["key"])
        crawl_id = int(str(info["crawl_id"]))
        finished = [int(i) for i in info["finished"]]  # type: ignore[attr-defined]
        shm = Path("/dev/shm")  # noqa: S108 - a tmpfs on purpose; TemporaryDirectory is private
        default_dir = str(shm) if shm.is_dir() else None
        with tempfile.TemporaryDirectory(dir=args.dir or default_dir) as tmp:
            sample = finished[: args.baseline]
            base_s = official_pattern(url, key, sample, Path(tmp, "official"))
            our_s, saved = asyncio.run(
                ours(url, key, crawl_id, Path(tmp, "ours"), args.concurrency)
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)

    base_rate = len(sample) / base_s
    our_rate = saved / our_s
    mb = saved * args.size / 1e6
    print(
        f"crawl of {args.screenshots} screenshots ({len(finished)} finished), "
        f"{args.size / 1000:.0f} KB image each, {args.latency * 1000:.0f} ms per artifact"
    )
    print(
        f"official pattern (sequential save_image, {len(sample)} shots): "
        f"{base_rate:8.1f} screenshots/s  ({base_s:.2f} s)"
    )
    print(
        f"save_crawl, concurrency={args.concurrency} ({saved} shots, {mb:.0f} MB): "
        f"{our_rate:8.1f} screenshots/s  ({our_s:.2f} s)"
    )
    print(f"ratio: {our_rate / base_rate:.1f}x (target >= 15x)")


if __name__ == "__main__":
    main()
