"""Issue 16: schemathesis fuzzes the JSON API from its own OpenAPI schema (coverage, fuzzing and
stateful phases) against a live ``overture serve`` on SQLite with a real admin key, and finds
no server error and no status code the schema does not document.

The CLI runs as a subprocess: pytest runs with ``-p no:hypothesispytest`` and schemathesis
brings hypothesis along. Bounded by ``--max-time`` (about 2.5 minutes of fuzzing).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FUZZ_SECONDS = 150
# One worker: CPython 3.11.7's AST constructor is not thread-safe and hypothesis parses lambdas
# (python/cpython#106905, see tests/conftest.py), which failed a run with two.
# The signed webhooks are configured as in a deployment, so unsigned requests get their 401/403
# (unconfigured they answer 503 webhooks_disabled, which is right but reads as a server error).
# /v1/keys/{key_id} is left out so the run cannot revoke its own key; /v1/inbound/email takes a
# raw message/rfc822 body schemathesis cannot generate.
EXCLUDED = ["/v1/keys/{key_id}", "/v1/inbound/email"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(tmp_path):
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env |= {"OVERTURE_DATA_DIR": str(tmp_path), "OVERTURE_WEBHOOK_SECRET": "fuzz-secret",
            "OVERTURE_TWILIO_AUTH_TOKEN": "fuzz-token", "OVERTURE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    key = subprocess.run([BIN / "overture", "keys", "create", "--workspace", "fuzz", "--create-workspace",
                          "--role", "admin"], env=env, capture_output=True, text=True, check=True).stdout.strip()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([BIN / "overture", "serve", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "Uvicorn running" not in (tmp_path / "serve.log").read_text():
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        excluded = [arg for path in EXCLUDED for arg in ("--exclude-path", path)]
        run = subprocess.run(
            [BIN / "st", "run", f"http://127.0.0.1:{port}/openapi.json", "-H", f"Authorization: Bearer {key}",
             "--checks", "not_a_server_error,status_code_conformance", "--phases", "coverage,fuzzing,stateful",
             "--max-time", str(FUZZ_SECONDS), "--max-examples", "20", "-w", "1", "--request-timeout", "20",
             "--include-path-regex", "^/v1/", *excluded, "--no-color",
             # Hypothesis giving up on generating path values it likes (once: DELETE
             # .../phone-numbers/{number_id}, two plain strings) is the generator's trouble, not
             # the API's: the operation still ran its coverage phase and the checks above.
             "--suppress-health-check", "filter_too_much"],
            env=env, capture_output=True, text=True, timeout=FUZZ_SECONDS + 120, cwd=tmp_path)  # .schemathesis/ there
    finally:
        server.terminate()
        server.wait(timeout=30)
    served = (tmp_path / "serve.log").read_text()
    out = run.stdout + run.stderr + "\n--- serve log tracebacks ---\n" + "\n".join(
        served[m.start():m.start() + 4000] for m in re.finditer("Traceback", served))
    generated = re.search(r"(\d+) generated", out)
    server_errors = re.search(r"Server error: (\d+)", out)
    undocumented = re.search(r"Undocumented status code: (\d+)", out)
    print(f"schemathesis: {generated and generated.group(1)} cases generated, "
          f"{server_errors.group(1) if server_errors else 0} server errors, "
          f"{undocumented.group(1) if undocumented else 0} undocumented status codes")
    assert generated and int(generated.group(1)) > 1000, out[-5000:]
    assert server_errors is None and undocumented is None, out[-20000:]
    assert run.returncode == 0, out[-20000:]
    assert "Traceback" not in served, out[-20000:]
