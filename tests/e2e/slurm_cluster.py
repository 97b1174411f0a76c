"""A single-node SLURM cluster on this machine, for tests: munge + slurmctld + slurmd.

Debian's ``slurm-wlm`` and ``munge`` provide the daemons (``make setup`` installs them when
it runs as root; :func:`ensure_installed` tries the same). The cluster lives in a temporary
directory with its own ``slurm.conf`` (``select/cons_tres``, ``proctrack/linuxproc``, the
node's real CPU count and an explicit ``RealMemory``) and its own ports; clients find it
through ``SLURM_CONF``. Accounting is off, so job status comes from ``squeue``.

The config is also linked to the default path ``/etc/slurm/slurm.conf`` while the cluster
runs: Snakemake's job-step executor removes ``SLURM_CONF`` (with every ``SLURM_*`` variable
but a few) from the environment of the ``srun`` it calls inside each job, so ``srun`` would
find no configuration. An existing ``/etc/slurm/slurm.conf`` that is not ours is never
touched (the cluster refuses to start instead).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import free_port

PACKAGES = ("slurm-wlm", "munge")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# aeflow test cluster"
MUNGE_PID = Path("/run/munge/munged.pid")
DAEMONS = ("slurmctld", "slurmd", "munged")


def missing_reason() -> str | None:
    """Why a cluster cannot be started here, ``"install"`` if packages must be installed
    first, or None if it can start."""
    if os.geteuid() != 0:
        return "starting a test SLURM (munged, slurmctld, /etc/slurm) needs root"
    if all(shutil.which(d) or Path(f"/usr/sbin/{d}").exists() for d in DAEMONS):
        return None
    if not shutil.which("apt-get"):
        return (
            "slurm-wlm and munge are not installed and this machine cannot install packages "
            "(needs root and apt-get): apt-get install slurm-wlm munge"
        )
    return "install"


def ensure_installed() -> str | None:
    """Install the Debian packages if needed and possible; the reason to skip, or None."""
    reason = missing_reason()
    if reason != "install":
        return reason
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            return f"could not install {' '.join(PACKAGES)}: {proc.stderr.strip()[-500:]}"
    return None


def _node_line() -> tuple[str, int, int]:
    """This machine's node name, CPUs and RealMemory (MB) as slurmd sees them."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    name = re.search(r"NodeName=(\S+)", out).group(1)
    cpus = int(re.search(r"CPUs=(\d+)", out).group(1))
    memory = int(re.search(r"RealMemory=(\d+)", out).group(1))
    return name, cpus, memory


def write_conf(root: Path) -> Path:
    name, cpus, memory = _node_line()
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        f"""{MARKER}
ClusterName=aeflowtest
SlurmctldHost={name}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
NodeName={name} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={int(memory * 0.8)} State=UNKNOWN
PartitionName=debug Nodes={name} Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


def _munge_works() -> bool:
    try:
        enc = subprocess.run(["munge", "-n"], capture_output=True, check=True, timeout=10)
        subprocess.run(["unmunge"], input=enc.stdout, capture_output=True, check=True, timeout=10)
        return True
    except (subprocess.CalledProcessError, FileNotFoundError, subprocess.TimeoutExpired):
        return False


def _start_munge() -> int | None:
    """Start munged as the munge user unless one already answers; its pid if we started it."""
    if _munge_works():
        return None
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["runuser", "-u", "munge", "--", "mungekey", "--create"], check=True)
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    for _ in range(50):
        if _munge_works():
            return _pid(MUNGE_PID)
        time.sleep(0.1)
    raise RuntimeError("munged started but does not answer")


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _wait_pid(path: Path, timeout_s: float = 10) -> int | None:
    """The pid a daemon wrote (daemons write it shortly after forking)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = _pid(path)
        if pid is not None:
            return pid
        time.sleep(0.1)
    return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@contextlib.contextmanager
def local_cluster(root: Path, timeout_s: float = 60) -> Iterator[dict[str, str]]:
    """Start the cluster; yield the environment for its clients; shut it down after.

    On exit the daemons are stopped (``scontrol shutdown``, then SIGTERM) and their pid files
    checked: a daemon still alive raises.
    """
    root = Path(root)
    conf = write_conf(root)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        try:
            ours = DEFAULT_CONF.read_text().startswith(MARKER)
        except OSError:
            ours = DEFAULT_CONF.is_symlink()  # a dangling link left by an earlier test
        if not ours:
            raise RuntimeError(f"{DEFAULT_CONF} exists (a real SLURM?); not starting a test one")
        DEFAULT_CONF.unlink()
    DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
    DEFAULT_CONF.symlink_to(conf)
    munge_pid = _start_munge()
    pids: dict[str, int | None] = {}
    try:
        for daemon, args in (("slurmctld", ["-i"]), ("slurmd", [])):
            subprocess.run([daemon, *args], env=env, check=True)
            pids[daemon] = _wait_pid(root / f"{daemon}.pid")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True
            ).stdout
            if out.strip() in ("idle", "mix"):
                break
            time.sleep(0.5)
        else:
            log = (root / "log/slurmctld.log").read_text()[-2000:]
            raise RuntimeError(f"SLURM node did not become idle in {timeout_s} s:\n{log}")
        yield env
    finally:
        subprocess.run(["scontrol", "shutdown"], env=env, capture_output=True, check=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
            time.sleep(0.3)
        for pid in pids.values():
            if _alive(pid):
                os.kill(pid, 15)
        if _alive(munge_pid):
            os.kill(munge_pid, 15)
        if DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == conf.resolve():
            DEFAULT_CONF.unlink()
        time.sleep(0.5)
        still = [d for d, p in pids.items() if _alive(p)]
        if still:
            raise RuntimeError(f"SLURM daemons still running after shutdown: {still}")
