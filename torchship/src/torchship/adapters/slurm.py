"""The Slurm commands the matrix's Slurm runner reads and acts with: job states, scancel.

Submitting is submitit's (torchship.matrix.runners.slurm). States come from `scontrol show
job`, which needs no accounting database (a cluster without slurmdbd has no `sacct`); a
job scontrol has forgotten (older than the cluster's MinJobAge) is asked of `sacct`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from torchship.adapters import proc
from torchship.errors import TorchshipError

# Slurm's job states, grouped as the runner reads them.
WAITING = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                     "RESV_DEL_HOLD", "SUSPENDED", "STOPPED", "RESIZING", "SIGNALING"})
RUNNING = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT"})
DONE = "COMPLETED"
# Every other state is an end that failed: FAILED, TIMEOUT, CANCELLED, PREEMPTED,
# NODE_FAIL, BOOT_FAIL, OUT_OF_MEMORY, DEADLINE, REVOKED, SPECIAL_EXIT.


class SlurmError(TorchshipError):
    """The Slurm commands are missing, or the controller does not answer."""


@dataclass(frozen=True)
class JobState:
    """One job as Slurm sees it now."""

    job_id: str
    state: str              # PENDING, RUNNING, COMPLETED, TIMEOUT, ... ("UNKNOWN": not found)
    reason: str = ""        # why it waits or why it ended (Slurm's Reason), "" for None
    exit_code: str = ""     # code:signal
    node: str = ""

    @property
    def waiting(self) -> bool:
        return self.state in WAITING or self.state == "UNKNOWN"

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def ended(self) -> bool:
        return not (self.waiting or self.running)

    @property
    def ok(self) -> bool:
        return self.state == DONE


def require() -> None:
    """SlurmError unless the Slurm client commands exist and the controller answers."""
    if proc.which("sbatch") is None or proc.which("scontrol") is None:
        raise SlurmError("the Slurm commands (sbatch, scontrol) are not installed here",
                         hint="run from a login node of the cluster, or install its client "
                              "(Debian: slurm-client)")
    out = proc.run(["scontrol", "ping"], check=False, timeout=30)
    if out.returncode != 0 or " is UP" not in out.stdout:
        said = (out.stdout or "").strip().splitlines()
        raise SlurmError(f"the Slurm controller does not answer: {said[-1] if said else '?'}",
                         hint="check `scontrol ping` (and SLURM_CONF)")


_FIELD = re.compile(r"(\w+)=(\S*)")


def _parse_oneliner(line: str) -> dict[str, str]:
    return dict(_FIELD.findall(line))


def states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of each job: scontrol for what the controller still holds, sacct for the
    rest where it answers, else UNKNOWN."""
    wanted = [str(j) for j in job_ids]
    if not wanted:
        return {}
    out = proc.run(["scontrol", "show", "job", "--oneliner"], check=False, timeout=60)
    found: dict[str, JobState] = {}
    for line in out.stdout.splitlines():
        f = _parse_oneliner(line)
        jid = f.get("JobId", "")
        if jid in wanted:
            found[jid] = _state(jid, f)
    missing = [j for j in wanted if j not in found]
    if missing:
        found.update(_sacct(missing))
    return {j: found.get(j, JobState(j, "UNKNOWN")) for j in wanted}


def _state(jid: str, f: Mapping[str, str]) -> JobState:
    reason = f.get("Reason", "")
    return JobState(jid, f.get("JobState", "UNKNOWN"), "" if reason == "None" else reason,
                    f.get("ExitCode", ""), f.get("BatchHost", "") or f.get("NodeList", ""))


def _sacct(job_ids: list[str]) -> dict[str, JobState]:
    if proc.which("sacct") is None:
        return {}
    out = proc.run(["sacct", "--noheader", "--parsable2", "-X", "-o",
                    "JobID,State,ExitCode,NodeList", *[f"-j{j}" for j in job_ids]],
                   check=False, timeout=60)
    if out.returncode != 0:    # no accounting storage on this cluster
        return {}
    found = {}
    for line in out.stdout.splitlines():
        parts = line.split("|")
        if len(parts) >= 4 and parts[0] in job_ids:
            # sacct says `CANCELLED by 0`: the state is the first word.
            found[parts[0]] = JobState(parts[0], parts[1].split()[0] if parts[1] else "UNKNOWN",
                                       "", parts[2], parts[3])
    return found


def cancel(job_ids: Iterable[str]) -> list[str]:
    """scancel these jobs (those already ended are left as they are); the ids asked."""
    ids = [str(j) for j in job_ids]
    if ids:
        proc.run(["scancel", *ids], check=False, timeout=60)
    return ids
