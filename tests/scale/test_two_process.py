"""Two processes on 127.0.0.1 (``pa.distributed``) get the 1-process fit; their checkpoint
resumes in one process.

Each process has 2 simulated CPU devices and half the rows; the 4-device mesh spans both.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("_two_process.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "worker", str(rank), port, str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    try:
        for p in procs:
            _, err = p.communicate(timeout=900)
            assert p.returncode == 0, err[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    single = subprocess.run(
        [sys.executable, str(SCRIPT), "single", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    two = json.loads((out / "two.json").read_text())
    return two, json.loads(single.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_give_the_one_process_fit(runs):
    two, single = runs
    assert two["devices"] == 4 and two["local"] == 2
    one = single["one"]
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-10)
    for k, v in one["params"].items():
        np.testing.assert_allclose(two["params"][k], v, rtol=1e-10)


@pytest.mark.slow
def test_two_process_checkpoint_resumes_in_one_process(runs):
    two, single = runs
    resumed, one = single["resumed"], single["one"]
    half = len(two["losses"]) // 2
    # the checkpoint's loss trace and state are restored bit for bit ...
    assert resumed["losses"][:half] == two["losses"][:half]
    # ... and the 1-process continuation is the 1-process fit up to the order of sums
    np.testing.assert_allclose(resumed["losses"], one["losses"], rtol=1e-10)
    for k, v in one["params"].items():
        np.testing.assert_allclose(resumed["params"][k], v, rtol=1e-10)
