"""The one place that starts processes: argument lists only, logged, failures raised."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torchship.errors import CommandFailed, TorchshipError

log = logging.getLogger("torchship.adapters.proc")


def run(
    args: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
    check: bool = True,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `args`; return the finished process, or raise CommandFailed when it fails.

    `env` is added to the current environment rather than replacing it. With
    `capture=False` output goes straight to the terminal (long builds a person watches).
    """
    argv = [os.fspath(a) for a in args]
    log.debug("$ %s%s", shlex.join(argv), f"  (in {cwd})" if cwd else "")
    full_env = {**os.environ, **env} if env is not None else None
    try:
        # A time limit gets a process group of its own, so the limit stops the grandchildren
        # too (nox -> pytest -> training): killing only the child leaves its pipes open.
        with spawning():
            child = subprocess.Popen(
                argv,
                cwd=cwd,
                env=full_env,
                text=True,
                stdin=subprocess.PIPE if input is not None else None,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.STDOUT if capture else None,
                start_new_session=timeout is not None,
            )
    except FileNotFoundError as exc:
        raise TorchshipError(
            f"`{argv[0]}` was not found", hint="install it or put it on PATH"
        ) from exc
    try:
        out, _ = child.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(child)
        out, _ = child.communicate()
        raise CommandFailed(argv, -1, f"{out or ''}\ntimed out after {timeout}s") from exc
    except BaseException:  # Ctrl-C included: leave nothing running behind us
        _kill_group(child)
        child.wait()
        raise
    proc = subprocess.CompletedProcess(argv, child.returncode, out, None)
    if check and proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stdout or "")
    return proc


def _kill_group(child: subprocess.Popen[str]) -> None:
    """Kill `child` and, when it leads a process group of its own, everything in it."""
    import signal

    try:
        if os.getpgid(child.pid) == child.pid:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (someone else's counts: it is alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def which(name: str) -> Path | None:
    """The absolute path of an executable on PATH, or None."""
    from shutil import which as _which

    found = _which(name)
    return Path(found) if found else None


def spawn(
    args: Sequence[str | os.PathLike[str]],
    *,
    log_file: Path,
    cwd: str | os.PathLike[str] | None = None,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """Start a long-lived server in the background, its output going to `log_file`.

    With `detach` it gets its own session, so it outlives this process (a machine-wide
    service); otherwise the caller owns it and must stop it (`stop`).
    """
    argv = [os.fspath(a) for a in args]
    log.debug("$ %s &  (log: %s)", shlex.join(argv), log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        try:
            with spawning():
                return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=detach)
        except FileNotFoundError as exc:
            raise TorchshipError(f"`{argv[0]}` was not found",
                                 hint="install it or put it on PATH") from exc


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10) -> None:
    """Terminate a process started by `spawn`, killing it when it does not go in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def stream(
    args: Sequence[str | os.PathLike[str]],
    *,
    on_line: Callable[[str], None],
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `args`, handing each output line to `on_line` as it comes (a build a person
    watches), and return the finished process with the whole output; raise on failure."""
    argv = [os.fspath(a) for a in args]
    log.debug("$ %s%s", shlex.join(argv), f"  (in {cwd})" if cwd else "")
    full_env = {**os.environ, **env} if env is not None else None
    lines: list[str] = []
    try:
        with spawning():
            started = subprocess.Popen(argv, cwd=cwd, env=full_env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        with started as proc:
            assert proc.stdout is not None  # stdout=PIPE above
            for line in proc.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
    except FileNotFoundError as exc:
        raise TorchshipError(f"`{argv[0]}` was not found",
                             hint="install it or put it on PATH") from exc
    output = "".join(lines)
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, output)
    return subprocess.CompletedProcess(argv, proc.returncode, output, None)


# --- signals -------------------------------------------------------------------------------

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def raise_interrupt(signum: int, frame: object) -> None:
    """A signal handler that turns SIGTERM and SIGHUP into what Ctrl-C is: KeyboardInterrupt,
    so that the same `finally`/`except` clean-up runs whatever stopped the process."""
    import signal

    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def signals(handler: Callable[[int, Any], Any] | int) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to `handler` meanwhile (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = [getattr(signal, name) for name in STOP_SIGNALS]
    old = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


_sheltered = 0  # how many `sheltered()` blocks are open (signals are a main-thread affair)


@contextmanager
def sheltered() -> Iterator[None]:
    """Meanwhile, children start with SIGINT, SIGTERM and SIGHUP blocked: a Ctrl-C to the
    terminal's process group, or a signal to the whole group, does not reach them.

    For what must run to its end once it has begun: a git push, whose outcome only the remote
    knows, and a rollback, which must not stop half-way. Blocked signals stay blocked across
    exec and are inherited by the children's own children (git keeps its callers' mask), and
    a process that blocks them keeps the terminal: ssh can still ask for a passphrase. This
    process still receives them and decides; SIGKILL still stops a child.
    """
    global _sheltered
    _sheltered += 1
    try:
        yield
    finally:
        _sheltered -= 1


def is_sheltered() -> bool:
    return _sheltered > 0


@contextmanager
def spawning() -> Iterator[None]:
    """Around starting one child: inside `sheltered()`, block the stop signals in this
    thread while it starts, so that the child starts with them blocked. One that arrives
    meanwhile waits, and reaches this process once the child has started."""
    if not _sheltered:
        yield
        return
    import signal

    sigs = {getattr(signal, name) for name in STOP_SIGNALS}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
