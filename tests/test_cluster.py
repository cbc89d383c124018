"""grader/cluster/*.sbatch without Slurm: each script runs as plain bash with the variables Slurm
would set (SLURM_ARRAY_TASK_ID, SLURM_SUBMIT_DIR, SLURM_CPUS_PER_TASK, SLURM_MEM_PER_*), on three
sample students: one graded in slice 1 of 2, two in slice 2 that are decided without running
anything (so that a whole run costs one worker). The merged grades.csv must have the bytes of one
plain run; wrong task numbers, wrong folders, too little memory, unfinished or mismatched slices
and outputs graded in different sandbox modes are refused with messages that say what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sample_batch import HANG_GUARD_S, LIMITS, NO_SANDBOX, REPO, SUBMISSIONS, read_rows

from grader.course import GraderError
from grader.merge import merge
from grader.submissions import shard_of

GRADE = "grader/cluster/grade_array.sbatch"
MERGE = "grader/cluster/merge_shards.sbatch"
# float64_default is graded (45/45); not_a_notebook and unknown_assignment get their status
# without a worker. The test needs them in these slices: checked below, in case the hash changes.
STUDENTS = {"float64_default": 1, "not_a_notebook": 2, "unknown_assignment": 2}
OPTIONS = [*LIMITS, *([] if NO_SANDBOX is None else ["--no-sandbox"])]


def slurm_env(**variables: str) -> dict[str, str]:
    """This environment without any SLURM_ variable (the tests may run inside a Slurm job),
    plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return env | variables


def task_env(index: int, **variables: str) -> dict[str, str]:
    return slurm_env(**{"SLURM_ARRAY_TASK_ID": str(index), "SLURM_SUBMIT_DIR": str(REPO),
                        "SLURM_CPUS_PER_TASK": "1"} | variables)


def bash(script: str | Path, *args: str | Path, env: dict[str, str], cwd: Path = REPO,
         ) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *map(str, args)], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=HANG_GUARD_S)


def spool_copy(script: str, folder: Path) -> Path:
    """What sbatch runs: a copy of the script under another name, far from the repository."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "slurm_script"
    shutil.copy(REPO / script, copy)
    return copy


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, Path]:
    """One plain run and the two slices (run at once, as Slurm would), then merge_shards."""
    assert {s: shard_of(s, 2) for s in STUDENTS} == STUDENTS
    tmp = tmp_path_factory.mktemp("cluster")
    submissions, dest, plain = tmp / "submissions", tmp / "dest", tmp / "plain"
    for student in STUDENTS:
        shutil.copytree(SUBMISSIONS / student, submissions / student)

    def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=REPO, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    runs = {
        "plain": start([sys.executable, "-m", "grader", "autograde", str(submissions), "--out",
                        str(plain), "--jobs", "1", *OPTIONS]),
        # task 1 as `bash grader/cluster/...` with paths relative to the repository root and
        # the memory of the node; task 2 as sbatch runs it (a spool copy), with memory per CPU.
        # Both give workers the grader's default 4096 MB: min(4096, 5120 - 512), 4608 - 512
        "task 1": start(["bash", GRADE, os.path.relpath(submissions, REPO),
                         os.path.relpath(dest, REPO), "2", *OPTIONS],
                        task_env(1, SLURM_MEM_PER_NODE="5120")),
        "task 2": start(["bash", str(spool_copy(GRADE, tmp / "spool")), str(submissions),
                         str(dest), "2", *OPTIONS], task_env(2, SLURM_MEM_PER_CPU="4608")),
    }
    outputs = {name: run.communicate(timeout=HANG_GUARD_S)[0] for name, run in runs.items()}
    codes = {name: run.returncode for name, run in runs.items()}
    # the plain run says 1 (two rows not graded); a slice that graded its rows succeeded
    assert codes == {"plain": 1, "task 1": 0, "task 2": 0}, outputs
    merged = bash(MERGE, dest, "2", env=slurm_env())
    assert merged.returncode == 0, merged.stdout + merged.stderr
    return {"submissions": submissions, "dest": dest, "plain": plain,
            "task 1 stdout": outputs["task 1"]}


def test_merged_slices_have_the_bytes_of_one_run(graded) -> None:
    dest = graded["dest"]
    merged = (dest / "merged" / "grades.csv").read_bytes()
    assert merged == (graded["plain"] / "grades.csv").read_bytes()
    assert read_rows(dest / "merged" / "grades.csv", ["student", "status"]) == [
        ("float64_default", "graded"), ("not_a_notebook", "not_a_notebook"),
        ("unknown_assignment", "unknown_assignment")]
    for index in (1, 2):
        shard = dest / f"shard-{index}-of-2"
        assert json.loads((shard / "shard.json").read_text()) == {"index": index, "count": 2}
        log = (dest / "logs-slurm" / f"task-{index}-of-2.log").read_text()
        assert "--jobs 1 --memory-mb 4096" in log, log
    assert "not a failure" in (dest / "logs-slurm" / "task-2-of-2.log").read_text()
    assert f"log in {dest.resolve()}/logs-slurm/task-1-of-2.log" in graded["task 1 stdout"]
    assert (dest / "merged" / "sandbox.json").read_bytes() == (
        graded["plain"] / "sandbox.json").read_bytes()


def test_a_task_run_again_alone_gives_the_same_slice(graded) -> None:
    """`sbatch --array=2 ... DEST 2` grades slice 2 again: here as plain bash from the
    repository root, without SLURM_SUBMIT_DIR."""
    dest = graded["dest"]
    before = (dest / "shard-2-of-2" / "grades.csv").read_bytes()
    done = (dest / "logs-slurm" / "task-2-of-2.done").read_bytes()
    env = task_env(2, SLURM_MEM_PER_NODE="4608")
    del env["SLURM_SUBMIT_DIR"]
    proc = bash(GRADE, graded["submissions"], dest, "2", *OPTIONS, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dest / "shard-2-of-2" / "grades.csv").read_bytes() == before
    assert (dest / "logs-slurm" / "task-2-of-2.done").read_bytes() == done
    assert (dest / "logs-slurm" / "task-2-of-2.log").read_text().count("=== ") == 2


@pytest.mark.parametrize("index", ["3", "0", "-1", "x"])
def test_a_task_outside_1_to_n_is_refused(tmp_path, index) -> None:
    proc = bash(GRADE, SUBMISSIONS, tmp_path / "dest", "2",
                env=task_env(1, SLURM_ARRAY_TASK_ID=index, SLURM_MEM_PER_NODE="4096"))
    assert proc.returncode == 2
    assert f"array task {index} is not one of the slices 1..2" in proc.stderr
    assert "--array=1-2" in proc.stderr
    assert not (tmp_path / "dest").exists()


def test_without_an_array_task_it_says_how_to_submit(tmp_path) -> None:
    env = task_env(1, SLURM_MEM_PER_NODE="4096")
    del env["SLURM_ARRAY_TASK_ID"]
    proc = bash(GRADE, SUBMISSIONS, tmp_path / "dest", "2", env=env)
    assert proc.returncode == 2
    assert "SLURM_ARRAY_TASK_ID is not set: submit with sbatch --array=1-2" in proc.stderr


def test_outside_the_repository_root_it_is_refused(tmp_path) -> None:
    """From another folder, as bash (the current folder) or as sbatch (SLURM_SUBMIT_DIR)."""
    for env in (slurm_env(SLURM_ARRAY_TASK_ID="1", SLURM_MEM_PER_NODE="4096"),
                task_env(1, SLURM_SUBMIT_DIR=str(tmp_path), SLURM_MEM_PER_NODE="4096")):
        proc = bash(REPO / GRADE, SUBMISSIONS, tmp_path / "dest", "2", env=env, cwd=tmp_path)
        assert proc.returncode == 2
        assert f"{tmp_path} is not the repository root with its .venv" in proc.stderr
        assert "cd to the repository root" in proc.stderr
        proc = bash(REPO / MERGE, tmp_path / "dest", "2", env=env, cwd=tmp_path)
        assert proc.returncode == 2
        assert f"{tmp_path} is not the repository root with its .venv" in proc.stderr
    assert not (tmp_path / "dest").exists()


def test_the_usage_names_the_script_not_the_spool_copy(tmp_path) -> None:
    for script, usage in ((GRADE, f"usage: sbatch --array=1-N {GRADE} SUBMISSIONS DEST N"),
                          (MERGE, f"usage: sbatch {MERGE} DEST N")):
        copy = spool_copy(script, tmp_path / Path(script).stem)
        proc = bash(copy, env=task_env(1))
        assert proc.returncode == 2
        assert usage in proc.stderr
        assert str(copy) not in proc.stderr and "slurm_script" not in proc.stderr


def test_memory_and_options_it_sets_itself_are_checked(tmp_path) -> None:
    def refused(*options: str, **variables: str) -> str:
        proc = bash(GRADE, SUBMISSIONS, tmp_path / "dest", "2", *options,
                    env=task_env(1, **variables))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        return proc.stderr

    assert "ask for at least 6144 MB (sbatch --mem=6G) or fewer CPUs" in refused(
        SLURM_CPUS_PER_TASK="4", SLURM_MEM_PER_NODE="4096")
    assert "SLURM_MEM_PER_CPU=1000 x 2 CPUs for 2 jobs is 1000 MB per job" in refused(
        SLURM_CPUS_PER_TASK="2", SLURM_MEM_PER_CPU="1000")
    assert "neither SLURM_MEM_PER_NODE nor SLURM_MEM_PER_CPU is set" in refused()
    assert "SLURM_MEM_PER_NODE=4G is not an amount of memory in MB" in refused(
        SLURM_MEM_PER_NODE="4G")
    for option in ("--jobs=3", "--mem", "--out", "--shard"):
        assert f"{option}: --out, --shard, --jobs and --memory-mb are set by this script" in (
            refused(option, "1", SLURM_MEM_PER_NODE="4096"))
    assert not (tmp_path / "dest").exists()


def test_a_crash_of_the_grader_fails_the_task(tmp_path) -> None:
    """Python exits 1 on a traceback, the grader's code for "graded, some rows say why not":
    the script tells them apart, and a crashed slice leaves no .done for merge_shards."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        "import grader.autograde\n"
        "def crash(*args, **kwargs):\n"
        "    raise RuntimeError('a bug in the grader')\n"
        "grader.autograde.autograde = crash\n")
    dest = tmp_path / "dest"
    proc = bash(GRADE, SUBMISSIONS, dest, "2",
                env=task_env(1, SLURM_MEM_PER_NODE="4096", PYTHONPATH=str(hook)))
    log = (dest / "logs-slurm" / "task-1-of-2.log").read_text()
    assert proc.returncode == 3, log
    assert "RuntimeError: a bug in the grader" in log
    assert "task 1 of 2: the grader crashed" in log
    assert not (dest / "logs-slurm" / "task-1-of-2.done").exists()


def test_merge_shards_refuses_unfinished_or_mismatched_slices(graded, tmp_path) -> None:
    dest = tmp_path / "dest"
    shutil.copytree(graded["dest"], dest)
    done = dest / "logs-slurm" / "task-2-of-2.done"
    settings = done.read_text()
    done.unlink()  # as a task stopped at its time limit leaves it
    proc = bash(MERGE, dest, "2", env=slurm_env())
    assert proc.returncode == 2
    assert "1 of the 2 slices did not finish (2:" in proc.stderr
    assert (f"sbatch --array=2 grader/cluster/grade_array.sbatch "
            f"{graded['submissions'].resolve()} {dest.resolve()} 2") in proc.stderr
    done.write_text(settings.replace("--memory-mb 4096", "--memory-mb 1536"))
    proc = bash(MERGE, dest, "2", env=slurm_env())
    assert proc.returncode == 2
    assert "the slices were not all graded with the same settings" in proc.stderr
    assert "--memory-mb 1536" in proc.stderr
    # refused before the merge started: its log has only the fixture's merge
    assert (dest / "logs-slurm" / "merge-of-2.log").read_text().count("=== ") == 1


def test_merge_refuses_outputs_graded_in_different_sandbox_modes(graded, tmp_path) -> None:
    outputs = []
    for index in (1, 2):
        copy = tmp_path / f"shard-{index}-of-2"
        shutil.copytree(graded["dest"] / copy.name, copy)
        outputs.append(copy)

    def record(output: Path, mode: str | None) -> None:
        path = output / "sandbox.json"
        path.unlink(missing_ok=True)
        if mode:
            path.write_text(json.dumps({"mode": mode, "cgroups": 2}) + "\n")

    record(outputs[0], "root")
    record(outputs[1], "none")
    with pytest.raises(GraderError, match="graded in different sandbox modes") as error:
        merge(outputs, tmp_path / "merged")
    assert f"{outputs[0]}: root, {outputs[1]}: none" in str(error.value)
    assert not (tmp_path / "merged").exists()
    record(outputs[1], None)  # an output of an older grader among ones that say their mode
    with pytest.raises(GraderError, match=f"{outputs[1]}: unknown"):
        merge(outputs, tmp_path / "merged")

    (outputs[1] / "sandbox.json").write_text("{")
    with pytest.raises(GraderError, match="sandbox.json is not the grader's record"):
        merge(outputs, tmp_path / "merged")

    for output in outputs:  # all of an older grader: nothing to compare
        record(output, None)
    assert merge(outputs, tmp_path / "merged") == 1
    assert not (tmp_path / "merged" / "sandbox.json").exists()
    for output in outputs:
        record(output, "userns")
    assert merge(outputs, tmp_path / "merged") == 1
    assert (tmp_path / "merged" / "grades.csv").read_bytes() == (
        graded["plain"] / "grades.csv").read_bytes()
    assert json.loads((tmp_path / "merged" / "sandbox.json").read_text())["mode"] == "userns"
