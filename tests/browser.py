"""Headless Chromium for the page tests, driven over the Chrome DevTools Protocol on a pipe.

The browser is the distribution's package (`apt-get install chromium`); nothing is downloaded and
nothing beyond the standard library is imported. Chromium started with `--remote-debugging-pipe`
reads protocol messages (JSON, each ended by a NUL byte) on its file descriptor 3 and writes
answers and events on 4: no port, no WebSocket client, no driver package.

    with Chromium() as browser:
        browser.open(Path("view.html"))                 # file://, waits for the load event
        browser.evaluate("document.title")              # a value back (JSON-able)
        browser.hover("#text .ch:nth-child(10)")        # a real mouse move over the element
        browser.screenshot("page.png")
        assert browser.errors == []                     # console errors and uncaught exceptions

As a script it takes a screenshot of a page (docs/explorer.md's picture):

    python tests/browser.py PAGE.html OUT.png [--hypothesis K] [--unit GROUP UNIT] [--select A B]
        [--hover N] [--width W] [--height H]
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), or None; RNNLAB_CHROMIUM names one."""
    given = os.environ.get("RNNLAB_CHROMIUM")
    if given:
        return shutil.which(given)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page (tab); `close()` (or the with-block) ends it."""

    def __init__(self, executable: str | None = None, width: int = 1400, height: int = 900, timeout: float = 30):
        exe = executable or find_chromium()
        if not exe:
            raise BrowserError("no chromium found (apt-get install chromium)")
        self.timeout = timeout
        self.errors: list[str] = []  # console errors and uncaught exceptions of the current page
        self._events: list[dict] = []
        self._next_id = 0
        self._messages: queue.Queue = queue.Queue()
        self._profile = tempfile.mkdtemp(prefix="rnnlab-chromium-")
        self._log = open(Path(self._profile) / "stderr.log", "w+b")  # closed in close()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes():  # in the child, before exec: its fds 3 and 4 become the two pipes
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            exe,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",  # as root in a container the sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=wire_pipes,
            close_fds=False,
            start_new_session=True,  # its own process group: close() ends the renderers with it
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable", session=True)
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=True,
            )
        except Exception:
            self.close()
            raise

    # --- the protocol ---------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._messages.put(None)
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\0")
            for message in complete:
                self._messages.put(json.loads(message))

    def send(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        """One protocol command; its result (a BrowserError when it fails or no answer comes)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._take(deadline, f"an answer to {method}")
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def _take(self, deadline: float, what: str) -> dict:
        try:
            message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise BrowserError(f"no {what} within {self.timeout} s{self._stderr_tail()}") from None
        if message is None:
            raise BrowserError(f"chromium closed the pipe while waiting for {what}{self._stderr_tail()}")
        if "method" in message:
            self._event(message)
        return message

    def _event(self, event: dict) -> None:
        self._events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            self.errors.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())

    def wait_for_event(self, method: str, since: int = 0) -> dict:
        deadline = time.monotonic() + self.timeout
        seen = since
        while True:
            for event in self._events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self._events)
            self._take(deadline, f"event {method}")

    def _stderr_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        tail = self._log.read().decode(errors="replace").strip().splitlines()[-5:]
        return ("; chromium said: " + " | ".join(tail)) if tail else ""

    # --- what a test does -----------------------------------------------------------------------
    def open(self, page) -> None:
        """Load a file (a Path or a file:// URL) and wait for its load event; errors start empty."""
        url = Path(page).resolve().as_uri() if not str(page).startswith(("file:", "about:", "data:")) else str(page)
        self.errors = []
        mark = len(self._events)
        result = self.send("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired", since=mark)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def rect(self, selector: str) -> dict:
        """The element's box in viewport coordinates (left, top, right, bottom), scrolled into view."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'nearest'}); const r = e.getBoundingClientRect();"
            " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })()"
        )
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        return box

    def center(self, selector: str) -> tuple[float, float]:
        r = self.rect(selector)
        return (r["left"] + r["right"]) / 2, (r["top"] + r["bottom"]) / 2

    def hover(self, selector: str) -> None:
        """Move the mouse onto the element (the browser fires mouseover/mousemove as for a person)."""
        x, y = self.center(selector)
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=True)

    def click(self, selector: str) -> None:
        x, y = self.center(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            self.send("Input.dispatchMouseEvent", params, session=True)

    def drag(self, start: str, end: str) -> None:
        """Press the mouse at the left edge of one element and release it at the right edge of
        another: a person selecting the text from the first to the last."""
        a = self.rect(start)
        x0, y0 = a["left"] + 1, (a["top"] + a["bottom"]) / 2
        b = self.rect(end)
        x1, y1 = b["right"] - 1, (b["top"] + b["bottom"]) / 2
        steps = [("mouseMoved", x0, y0, 0), ("mousePressed", x0, y0, 1)]
        steps += [("mouseMoved", (x0 + x1) / 2, (y0 + y1) / 2, 1), ("mouseMoved", x1, y1, 1)]
        steps += [("mouseReleased", x1, y1, 0)]
        for kind, x, y, buttons in steps:
            params = {"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1}
            self.send("Input.dispatchMouseEvent", params, session=True)

    def screenshot(self, path, clip: tuple[float, float, float, float] | None = None) -> Path:
        """A PNG of the viewport (or of clip = x, y, width, height) written to `path`."""
        params = {"format": "png"}
        if clip:
            params["clip"] = dict(zip(("x", "y", "width", "height"), clip), scale=1)
        data = base64.b64decode(self.send("Page.captureScreenshot", params, session=True)["data"])
        path = Path(path)
        path.write_bytes(data)
        return path

    def close(self) -> None:
        if getattr(self, "_proc", None) is None:
            return
        try:
            if self._proc.poll() is None:
                os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)  # the group this object started, by its id
            self._proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)
        self._proc = None

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="A screenshot of an rnnlab page in headless Chromium.")
    parser.add_argument("page", help="the HTML file")
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--hover", type=int, metavar="N", help="hover the N-th character (the predictions box)")
    parser.add_argument("--select", type=int, nargs=2, metavar=("A", "B"), help="select characters A to B")
    parser.add_argument("--hypothesis", type=int, metavar="K", help="choose the K-th hypothesis (from 0)")
    parser.add_argument("--unit", nargs=2, metavar=("GROUP", "UNIT"), help="show this unit (group index, unit)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    with Chromium(width=args.width, height=args.height) as browser:
        browser.open(args.page)
        if args.hypothesis is not None:
            browser.evaluate(f"explorer.chooseHypothesis({args.hypothesis}, true)")
        if args.unit:
            browser.evaluate(f"explorer.showUnit(explorer.rowOf({int(args.unit[0])}, {int(args.unit[1])}))")
        if args.select:
            browser.evaluate(f"explorer.selectSpan({args.select[0]}, {args.select[1]})")
            browser.evaluate(  # the span in the middle of the text's box, the page at its top
                f"document.querySelector('#text .ch[data-i=\"{args.select[0]}\"]')"
                ".scrollIntoView({block: 'center'}); window.scrollTo(0, 0)"
            )
        if args.hover is not None:
            browser.hover(f'#text .ch[data-i="{args.hover}"]')
        browser.screenshot(args.out)
        for error in browser.errors:
            print(error)
        return 1 if browser.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
