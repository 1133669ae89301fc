"""Turn a ``SubmitRequest`` into a runnable job, or say precisely what is wrong with it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from evd.environments.settings import JobSettings, settings_from_table
from evd.errors import InvalidRequest, NotFound
from evd.models import SubmitRequest
from evd.sdk.checks import DeclarationError, check_labels, check_restart

# Linux refuses a single argument of 128 KiB or more (MAX_ARG_STRLEN) and shares
# ARG_MAX (2 MiB) between the arguments and the environment.
MAX_ARG_BYTES = 128 * 1024 - 1
MAX_COMMAND_BYTES = 256 * 1024
MAX_ENV_BYTES = 1024 * 1024
MAX_NAME_CHARS = 200
MAX_RETRIES = 100
MAX_PRIORITY = 2**31 - 1
# The shapes below are the API document's too (evd.daemon.server.api.contract).
GOOD_NAME = re.compile(r"[^\n\r\x00]*[^\s\x00][^\n\r\x00]*")  # some text on one line
CLUSTER = re.compile(r"\s*(auto|local|(ray://)?[^\s:/\x00][^\x00]*:[0-9]+)\s*")
FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CACHE_CHOICES = ("use", "off", "refresh")  # `evd run --cache`, `--no-cache`, `--refresh`
COMMAND_UNCACHED = (
    "--cache and --refresh take a job file: evd cannot know which files a command reads, so"
    " its result cannot be cached (an edited script would hand back a stale result); run the"
    " file instead (`evd run job.py`), so that its code is part of the key"
)


@dataclass(frozen=True)
class Job:
    """A validated submission, ready to be stored and started."""

    name: str | None  # None: named after its file (or its declared Job) later
    command: list[str]  # empty for a file: what runs is decided by its declarations
    cwd: str
    env: dict[str, str] | None
    timeout: float | None
    priority: int | None
    file: str | None = None  # absolute path of the job file
    function: str | None = None
    args: tuple[str, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)  # what the submitter asked for
    retries: int | None = None
    restart: str | None = None
    after: tuple[int, ...] = ()
    queue_timeout: float | None = None
    cluster: str | None = None
    keep_children: bool | None = None
    preemptible: bool | None = None  # may be stopped for a run of higher priority
    cache: str | None = None  # use | off | refresh; None: as the job declares
    labels: dict[str, str] = field(default_factory=dict)  # over the job's declared ones
    # From a job spec (``evd.daemon.submit.specfile``): its declarations, over the
    # job file's, and an inline env (the Python and packages) where no --env is given.
    layer: JobSettings | None = None
    env_layer: JobSettings | None = None

    @property
    def name_given(self) -> bool:
        """Whether the submitter named the run."""
        return self.name is not None


def _utf8_bytes(text: str, what: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"{what} is not valid UTF-8; evd stores commands as text."
            " Pass binary data through a file or an environment variable."
        ) from None


def _default_name(program: str) -> str:
    """A run's name when none is given: its program's file name (``command`` if it has none)."""
    name = os.path.basename(program.rstrip("/")).strip()[:MAX_NAME_CHARS]
    return name if GOOD_NAME.fullmatch(name) else "command"


def _check_command(command: list[str]) -> None:
    if not command:
        raise InvalidRequest("the command is empty: give a program to run, e.g. `-- echo hi`")
    total = 0
    for index, arg in enumerate(command):
        size = _utf8_bytes(arg, f"argument {index}")
        if "\0" in arg:
            raise InvalidRequest(f"argument {index} contains a NUL byte, which no program accepts")
        if size > MAX_ARG_BYTES:
            raise InvalidRequest(
                f"argument {index} is {size} bytes; Linux accepts at most {MAX_ARG_BYTES}"
                " per argument. Put large input in a file and pass its path."
            )
        total += size + 1
    if total > MAX_COMMAND_BYTES:
        raise InvalidRequest(
            f"the command line is {total} bytes; evd accepts at most {MAX_COMMAND_BYTES}."
            " Put large input in a file and pass its path."
        )


def _check_env(env: dict[str, str]) -> None:
    total = 0
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise InvalidRequest(f"bad environment variable name or value: {key!r}")
        total += _utf8_bytes(key, f"environment variable {key!r}")
        total += _utf8_bytes(value, f"the value of environment variable {key!r}") + 2
    if total > MAX_ENV_BYTES:
        raise InvalidRequest(f"the environment is {total} bytes; evd accepts {MAX_ENV_BYTES}")


def _resolve_file(request: SubmitRequest, cwd: str) -> str:
    assert request.file is not None
    _utf8_bytes(request.file, "the file name")
    path = os.path.normpath(os.path.join(cwd, request.file))
    if not os.path.isfile(path):
        raise NotFound(f"job file not found: {path}")
    if request.function is not None and not FUNCTION.fullmatch(request.function):
        raise InvalidRequest(f"bad function name {request.function!r}: give a Python identifier")
    for index, arg in enumerate(request.args):
        _utf8_bytes(arg, f"argument {index}")
        if "\0" in arg:
            raise InvalidRequest(f"argument {index} contains a NUL byte, which no program accepts")
    return path


MAX_AFTER = 1000


def _check_policy(request: SubmitRequest) -> None:
    if request.retries is not None and not 0 <= request.retries <= MAX_RETRIES:
        raise InvalidRequest(f"retries must be 0 to {MAX_RETRIES}, not {request.retries}")
    try:
        check_restart(request.restart)
    except DeclarationError as error:
        raise InvalidRequest(str(error)) from None
    if request.retries and request.restart not in (None, "no"):
        raise InvalidRequest(
            "--retries and --restart do not go together: --retries N gives a batch job N more"
            " attempts; --restart keeps a service running until `evd cancel`"
        )
    if len(request.after) > MAX_AFTER:
        raise InvalidRequest(f"a run may wait for at most {MAX_AFTER} others (--after)")
    for run_id in request.after:
        if run_id < 1:
            raise InvalidRequest(f"--after takes run ids (1, 2, ...), not {run_id}")
    if request.queue_timeout is not None and not request.queue_timeout > 0:
        raise InvalidRequest(
            f"the queue timeout must be a positive number of seconds, not {request.queue_timeout}"
        )
    try:
        check_labels(request.labels)
    except DeclarationError as error:
        raise InvalidRequest(str(error)) from None
    if request.cache is not None and request.cache not in CACHE_CHOICES:
        raise InvalidRequest(
            f"cache is one of {', '.join(CACHE_CHOICES)} (or left out), not {request.cache!r}"
        )


def validate(request: SubmitRequest) -> Job:
    """Check a submission and resolve it into a ``Job``; raise ``InvalidRequest`` if it is bad."""
    if (request.command is None) == (request.file is None):
        raise InvalidRequest("give either `command` or `file`, not both and not neither")
    cwd = request.cwd or os.getcwd()
    _utf8_bytes(cwd, "the working directory")
    if not os.path.isabs(cwd):
        raise InvalidRequest(f"the working directory must be an absolute path, not {cwd!r}")
    file = None
    if request.file is not None:
        file = _resolve_file(request, cwd)
        command: list[str] = []
        name = request.name
    else:
        assert request.command is not None
        if request.args or request.function:
            raise InvalidRequest(
                "`args` and `function` go with `file`; put a command's arguments in `command`"
            )
        command = list(request.command)
        _check_command(command)
        if request.cache in ("use", "refresh"):
            raise InvalidRequest(COMMAND_UNCACHED)
        name = _default_name(command[0]) if request.name is None else request.name
    if request.env is not None:
        _check_env(request.env)
    if request.name is not None:
        _utf8_bytes(request.name, "the name")
        if not GOOD_NAME.fullmatch(request.name) or len(request.name) > MAX_NAME_CHARS:
            raise InvalidRequest(
                f"bad run name {request.name!r}: use 1 to {MAX_NAME_CHARS} characters"
                " on one line, not only spaces"
            )
    if request.priority is not None and abs(request.priority) > MAX_PRIORITY:
        raise InvalidRequest(f"the priority must be within ±{MAX_PRIORITY}")
    if request.timeout is not None and not request.timeout > 0:
        raise InvalidRequest(
            f"the timeout must be a positive number of seconds, not {request.timeout}"
        )
    _check_policy(request)
    try:
        resources = settings_from_table(
            {
                key: value
                for key in ("cpus", "memory", "gpus", "gpu_memory", "disk")
                if (value := getattr(request, key)) is not None
            },
            "the request",
        ).resources
    except DeclarationError as error:
        raise InvalidRequest(str(error)) from None
    return Job(
        name=name,
        command=command,
        cwd=cwd,
        env=request.env,
        timeout=request.timeout,
        priority=request.priority,
        file=file,
        function=request.function,
        args=tuple(request.args),
        resources=dict(resources),
        retries=request.retries,
        restart=request.restart,
        after=tuple(dict.fromkeys(request.after)),
        queue_timeout=request.queue_timeout,
        cluster=_cluster(request.cluster),
        keep_children=request.keep_children,
        preemptible=request.preemptible,
        cache=request.cache,
        labels=dict(request.labels or {}),
    )


def _cluster(address: str | None) -> str | None:
    """A Ray cluster address as given (``ray://HOST:PORT`` or ``HOST:PORT``), checked for shape."""
    if address is None:
        return None
    if CLUSTER.fullmatch(address):
        return address.strip()
    raise InvalidRequest(
        f"--cluster {address!r}: expected a Ray address such as ray://HOST:10001 or HOST:6379"
    )
