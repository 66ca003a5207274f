"""Peak RSS of a real uvicorn server while a 200 MB unauthenticated body is streamed at it, beside idle.

Issue 16 measured 507 -> 1,066 MB before the key was checked ahead of the body. Goal: within 50 MB.
Run: .venv/bin/python benchmarks/big_body.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

CHUNK = b"x" * 1_048_576
TOTAL_MB = 200


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp()
    env = {**os.environ, "OVERTURE_DATA_DIR": data, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
                               "--port", str(port), "--log-level", "warning"], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(2)
        idle = _rss_mb(server.pid)
        peak = idle
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _rss_mb(server.pid))
                time.sleep(0.02)

        threading.Thread(target=watch, daemon=True).start()

        def body():
            for _ in range(TOTAL_MB):
                yield CHUNK

        for auth in ("Bearer nope", None):
            headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
            try:
                r = httpx.post(f"{base}/v1/campaigns", content=body(), headers=headers, timeout=60)
                print(f"{auth or 'no key'}: {r.status_code} {r.headers.get('content-type')}")
            except httpx.HTTPError as exc:  # the server may close before the whole body is sent
                print(f"{auth or 'no key'}: connection ended early ({type(exc).__name__})")
        done.set()
        print(f"idle RSS {idle:.1f} MB, peak while streaming {TOTAL_MB} MB x2: {peak:.1f} MB "
              f"(growth {peak - idle:.1f} MB; goal < 50 MB; before the fix 507 -> 1,066 MB)")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
