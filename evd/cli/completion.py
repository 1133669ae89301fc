"""``evd completion bash|zsh|fish``: a shell completion script, written from evd's own parsers.

Commands, their actions and options are read from the parsers when the
script is printed, so it always matches this evd. What changes while the
shell runs is asked of evd at TAB time through ``evd completion --list``:
run ids (the daemon's 50 newest runs and active groups, one call) and
environment names (the ``--env`` search path).
"""

from __future__ import annotations

import argparse
import os
import shlex

from evd.cli.commands import help_of
from evd.envfiles import names
from evd.errors import EvdError
from evd.transport import Transport

SHELLS = ("bash", "zsh", "fish")
ID_COMMANDS = ("show", "logs", "wait", "cancel", "result")  # commands that take run ids
RECENT = 50


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``completion``."""
    completion = sub.add_parser(
        "completion",
        help=help_of("completion"),
        description="Print a completion script. bash: `evd completion bash > "
        "~/.local/share/bash-completion/completions/evd`; zsh: `evd completion zsh > "
        '"${fpath[1]}/_evd"`; fish: `evd completion fish > ~/.config/fish/completions/evd.fish`.',
    )
    completion.add_argument("shell", nargs="?", choices=SHELLS, help="the shell to complete in")
    completion.add_argument(
        "--list",
        choices=("ids", "envs"),
        help="print run ids or environment names, one a line (the scripts call this)",
    )


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the script, or the words the script asks for."""
    if args.list is not None:
        print("\n".join(run_ids() if args.list == "ids" else env_names()))
        return 0
    if args.shell is None:
        raise EvdError("say which shell: `evd completion bash`, `zsh` or `fish`")
    # The whole parser tree, every command's (imported here: main imports this module).
    from evd.cli.parsing import build_parser  # noqa: PLC0415

    tree = Tree(build_parser()[0])
    print({"bash": bash, "zsh": zsh, "fish": fish}[args.shell](tree))
    return 0


def run_ids() -> list[str]:
    """The newest runs' ids and the active groups' (``g3``); none if evd is not running."""
    try:
        with Transport(timeout=2.0) as api:
            runs = api.call("GET", f"/v1/runs?limit={RECENT}")
            groups = api.call("GET", "/v1/groups?active=true")
    except (EvdError, OSError):
        return []
    return [str(run["id"]) for run in runs] + [f"g{group['id']}" for group in groups]


def env_names() -> list[str]:
    """The environment names ``--env`` knows."""
    return sorted(names(os.environ))


class Tree:
    """evd's commands as completion needs them: each one's actions and options."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        """Read the tree from the top-level parser."""
        top = _subparsers(parser)
        assert top is not None
        self.top_options = _options(parser)
        self.commands: dict[str, tuple[list[str], list[str]]] = {}
        helps = {action.dest: action.help or "" for action in top._choices_actions}
        self.helps = helps
        for name, command in top.choices.items():
            inner = _subparsers(command)
            actions = list(inner.choices) if inner else []
            options = set(_options(command))
            for action_parser in inner.choices.values() if inner else []:
                options.update(_options(action_parser))
            self.commands[name] = (actions, sorted(options))


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [word for action in parser._actions for word in action.option_strings]


def bash(tree: Tree) -> str:
    """The bash script (``complete -F _evd evd``)."""
    cases = []
    for name, (actions, options) in tree.commands.items():
        cases.append(
            f"        {name}) actions={shlex.quote(' '.join(actions))};"
            f" options={shlex.quote(' '.join(options))} ;;"
        )
    return BASH.format(
        commands=shlex.quote(" ".join([*tree.commands, *tree.top_options])),
        cases="\n".join(cases),
        id_commands="|".join(ID_COMMANDS),
    )


def zsh(tree: Tree) -> str:
    """The zsh script: bash's, through zsh's bashcompinit."""
    return f"#compdef evd\nautoload -U +X bashcompinit && bashcompinit\n{bash(tree)}"


def fish(tree: Tree) -> str:
    """The fish script (``complete -c evd``)."""
    lines = ["complete -c evd -f"]
    for name, (actions, options) in tree.commands.items():
        help_text = shlex.quote(tree.helps.get(name, ""))
        lines.append(f"complete -c evd -n __fish_use_subcommand -a {name} -d {help_text}")
        seen = f"'__fish_seen_subcommand_from {name}'"
        if actions:
            lines.append(f"complete -c evd -n {seen} -a {shlex.quote(' '.join(actions))}")
        for option in options:
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            lines.append(f"complete -c evd -n {seen} {flag}")
    ids = " ".join(ID_COMMANDS)
    listed = "'(evd completion --list ids)'"
    lines.append(f"complete -c evd -n '__fish_seen_subcommand_from {ids}' -a {listed}")
    lines.append("complete -c evd -l env -x -a '(evd completion --list envs)'")
    lines.append("complete -c evd -n '__fish_seen_subcommand_from run' -F")
    return "\n".join(lines)


BASH = """# evd's bash completion: `source <(evd completion bash)`, or save it as
# ~/.local/share/bash-completion/completions/evd
_evd() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local command=${{COMP_WORDS[1]}} actions="" options=""
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W {commands} -- "$cur"))
        return
    fi
    case "$prev" in
        --env)
            COMPREPLY=($(compgen -W "$(evd completion --list envs 2>/dev/null)" -f -- "$cur"))
            return ;;
        --map) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    case "$command" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$actions" ]; then
        COMPREPLY=($(compgen -W "$actions" -- "$cur"))
    else
        case "$command" in
            {id_commands})
                COMPREPLY=($(compgen -W "$(evd completion --list ids 2>/dev/null)" -- "$cur")) ;;
            *) COMPREPLY=($(compgen -f -- "$cur")) ;;
        esac
    fi
}}
complete -o filenames -F _evd evd"""
