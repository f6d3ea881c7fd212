"""The daemon that comes with the package: the ``plasma-store`` console
script and ``start_plasma_store``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time

import plasma_store


def test_the_console_script_runs_the_store_and_exits_0_on_sigterm(tmp_path):
    script = os.path.join(sysconfig.get_path("scripts"), "plasma-store")
    sock = str(tmp_path / "plasma.sock")
    proc = subprocess.Popen([script, "-s", sock, "-m", "10M"], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        client = plasma_store.connect(sock)
        assert client.store_capacity() == 10 << 20
        oid = client.put("through the console script's store")
        assert client.get(oid) == "through the console script's store"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_a_bad_flag_is_refused_with_a_message():
    out = subprocess.run(plasma_store.store_command("-s", "/tmp/x.sock", "-m", "lots"), capture_output=True, text=True)
    assert out.returncode != 0
    assert "invalid size 'lots'" in out.stderr


def test_start_plasma_store_is_pyarrows_context_manager():
    with plasma_store.start_plasma_store(10_000, external_store="hashtable://test") as (sock, proc):
        assert os.path.exists(sock) and proc.poll() is None
        assert plasma_store.connect(sock).store_capacity() == 10_000
    assert proc.poll() is not None, "stopped on exit"
    assert not os.path.exists(os.path.dirname(sock)), "its directory removed"


def test_python_m_plasma_store_prints_help():
    out = subprocess.run([sys.executable, "-m", "plasma_store", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "-s <SOCKET>" in out.stdout
