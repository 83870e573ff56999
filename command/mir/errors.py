"""Every error mir raises, one class per kind of failure.

Each class keeps the facts (path, line, revision...) as attributes and builds a message that
ends with what to do about it. The CLI turns them into an exit code in one place
(:func:`mir.cli.main`); YMIR's numeric result codes are kept as ``code`` so the controller and
YMIR-era tooling can still read them.
"""

from __future__ import annotations

from pathlib import Path


class MirError(Exception):
    """Base of all mir errors; ``code`` is YMIR's result code, ``exit_code`` the process status."""

    code = 169999
    exit_code = 1

    def __init__(self, message: str, *, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}{'; ' + fix if fix else ''}")

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by state, so errors cross process pools whatever their ``__init__`` takes."""
        return (_rebuild, (self.__class__, self.args, dict(self.__dict__)))


def _rebuild(cls: type[MirError], args: tuple[object, ...], state: dict[str, object]) -> MirError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class InvalidArgsError(MirError):
    """A flag or argument is missing, malformed or contradicts another."""

    code = 160001
    exit_code = 2


class NotARepositoryError(MirError):
    """The root folder holds no mir repository (or a damaged one)."""

    code = 160009
    exit_code = 3

    def __init__(self, root: Path, reason: str = "no .mir folder") -> None:
        self.root = root
        super().__init__(f"{root} is not a mir repository ({reason})", fix="run `mir init -r <root>` first")


class RevisionNotFoundError(MirError):
    """A branch, tag or task id named on the command line does not exist."""

    code = 160006
    exit_code = 4

    def __init__(self, rev: str, known: list[str] | None = None) -> None:
        self.rev = rev
        hint = ""
        if known:
            shown = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
            hint = f" (known: {shown})"
        super().__init__(f"revision {rev!r} does not exist{hint}", fix="check `mir branch` and `mir log`")


class RevisionExistsError(MirError):
    """``--dst-rev branch@tid`` names a task that is already committed."""

    code = 160006
    exit_code = 4

    def __init__(self, rev: str) -> None:
        self.rev = rev
        super().__init__(
            f"destination {rev!r} already exists", fix="choose a new task id after '@' (tags are immutable)"
        )


class MergeConflictError(MirError):
    """Sources share assets and the strategy is ``stop``."""

    code = 160008
    exit_code = 5

    def __init__(self, host: str, guest: str, count: int, example: str) -> None:
        self.count = count
        super().__init__(
            f"{count} asset(s) of {guest!r} are also in {host!r} (e.g. {example})",
            fix="pass `-s host` to keep the host's copy or `-s guest` to take the guest's",
        )


class UnknownClassesError(MirError):
    """Class names not in the repository's label file (strategy ``stop`` or a filter/export list)."""

    code = 160005
    exit_code = 6

    def __init__(self, names: list[str], *, where: str = "", fix: str = "") -> None:
        self.names = names
        shown = ", ".join(repr(n) for n in names[:10]) + (" ..." if len(names) > 10 else "")
        place = f" in {where}" if where else ""
        super().__init__(
            f"{len(names)} unknown class name(s){place}: {shown}",
            fix=fix
            or "add them with `mir labels add NAME`, or import with `--unknown-types-strategy add|ignore`",
        )


class InvalidLabelError(MirError):
    """A class name or alias that mir cannot store."""

    code = 160001
    exit_code = 2


class InputFileError(MirError):
    """A user-supplied file is missing, unreadable or malformed; names the file and line."""

    code = 160016
    exit_code = 7

    def __init__(self, path: Path | str, problem: str, *, line: int | None = None, fix: str = "") -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}", fix=fix)


class ModelError(MirError):
    """A model package is missing, malformed or incompatible."""

    code = 160015
    exit_code = 8


class StageNotFoundError(ModelError):
    """``hash@stage`` names a stage the model package does not hold."""

    def __init__(self, model_hash: str, stage: str, stages: list[str]) -> None:
        self.model_hash = model_hash
        self.stage = stage
        self.stages = stages
        super().__init__(
            f"model {model_hash[:12]} has no stage {stage!r} (stages: {', '.join(stages)})",
            fix="pick one of those after '@', or leave the stage out for the best one",
        )


class NotVerifiableError(ModelError):
    """A model stage mir cannot run itself: no ONNX export with decoded detections, or no metadata."""

    def __init__(self, model_hash: str, stage: str, problem: str, *, fix: str) -> None:
        self.model_hash = model_hash
        self.stage = stage
        self.problem = problem
        super().__init__(f"model {model_hash[:12]}@{stage} {problem}", fix=fix)


class ExecutorError(MirError):
    """An executor run failed: keeps the executor's code, message and the tail of its log."""

    code = 160004
    exit_code = 9

    def __init__(
        self,
        message: str,
        *,
        executor_code: int | None = None,
        log_tail: str = "",
        work_dir: Path | None = None,
        fix: str = "",
    ) -> None:
        self.executor_code = executor_code
        self.log_tail = log_tail
        self.work_dir = work_dir
        fix = fix or (f"see the work directory {work_dir}" if work_dir else "")
        super().__init__(
            message + (f"\n--- last lines of the executor log ---\n{log_tail}" if log_tail else ""), fix=fix
        )


class CancelledError(MirError):
    """The task was cancelled; nothing was committed."""

    code = 160020
    exit_code = 10


class LockTimeoutError(MirError):
    """Another writer held the repository lock for longer than we were willing to wait."""

    code = 160007
    exit_code = 11


class NoSpaceError(MirError):
    """What an operation would write does not fit on the disk; it was refused before writing."""

    code = 160002
    exit_code = 12
