"""Black-box harness for orbitd: spawn the server on a free loopback port,
wait until it answers PING, stop it by PID (SIGTERM, or SIGKILL for crash
tests). Used by test_server.py; runs under Debian's /usr/bin/python3 (for
python3-redis)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import redis


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One orbitd process. store: a URI template ("{dir}" is a fresh
    directory, "{uniq}" a fresh namespace), kept across restart()."""

    def __init__(self, binary, store, args=(), env=None, keep=None):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="orbitd-test-")
        self.store = store.replace("{dir}", os.path.join(self.tmp, "data")).replace(
            "{uniq}", "t" + uuid.uuid4().hex[:12])
        self.args = list(args)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("ORBIT_"):
                del self.env[k]
        if env:
            self.env.update(env)
        self.port = free_port()
        self.http_port = free_port()
        self.proc = None
        self.log = os.path.join(self.tmp, "orbitd.log")

    def cmdline(self):
        return [self.binary, "--store", self.store, "--port", str(self.port),
                "--http-port", str(self.http_port)] + self.args

    def start(self, wait=True):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmdline(), env=self.env, stdout=logf, stderr=logf)
        logf.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("orbitd exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                s.sendall(b"PING\r\n")
                data = s.recv(64)
                s.close()
                if data.startswith(b"+PONG") or data.startswith(b"-NOAUTH"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("orbitd did not answer in %ss:\n%s" % (timeout, self.read_log()))

    def read_log(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def client(self, **kw):
        kw.setdefault("socket_timeout", 20)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def raw(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("orbitd did not stop after %s" % sig)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.kill()
        return self.start()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
