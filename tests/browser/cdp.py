"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Chromium reads NUL-terminated JSON commands from fd 3 and writes NUL-terminated JSON replies and
events to fd 4. No port, no websocket library, no browser download: only Debian's ``chromium``.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
         "--remote-debugging-pipe")


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$MEDSTRATA_CHROMIUM`` or the first of :data:`CANDIDATES` on PATH."""
    env = os.environ.get("MEDSTRATA_CHROMIUM")
    if env:
        return shutil.which(env)
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Browser:
    """Headless Chromium driven over the pipe. Use as a context manager; ``events`` keeps every event."""

    def __init__(self, binary: str, profile: Path, timeout: float = 20.0):
        self.timeout, self.events, self._buf, self._next = timeout, [], b"", 0
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # Copies above 10 so that dup2 onto 3 and 4 in the child can never clobber one another.
        hi_r, hi_w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, out_w))

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     pass_fds=(3, 4), preexec_fn=child_fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (cmd_r, out_w, hi_r, hi_w):
            os.close(fd)
        self._w, self._r = cmd_w, out_r

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no message from Chromium in time")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise ConnectionError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its ``result``; events seen meanwhile go to ``events``."""
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") != self._next:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})

    def wait_event(self, name: str, session: str | None = None) -> dict:
        """The first event ``name`` (already seen or arriving within the timeout)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self.events:
                if event.get("method") == name and (session is None or event.get("sessionId") == session):
                    return event
            self.events.append(self._read_message(deadline))

    def new_page(self) -> str:
        """Open a tab and return its flat session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        return self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, session: str, expression: str):
        """Value of a JavaScript expression in the page (JSON-serialisable); raises on a JS exception."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS exception: {res['exceptionDetails']}")
        return res["result"].get("value")

    def close(self) -> None:
        """Ask the browser to close, then make sure it has exited."""
        try:
            if self.proc.poll() is None:
                self.call("Browser.close")
        except (OSError, TimeoutError, ConnectionError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
