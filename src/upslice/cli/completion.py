"""`upslice completion bash|zsh|fish`: the shell script that completes commands and options."""

from __future__ import annotations

from typing import Annotated

import typer
from typer._completion_classes import completion_init
from typer._completion_shared import get_completion_script

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_UPSLICE_COMPLETE"


def completion(
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish", help="your shell")],
) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  echo 'eval "$(upslice completion bash)"' >> ~/.bashrc
    zsh:   echo 'eval "$(upslice completion zsh)"' >> ~/.zshrc
    fish:  upslice completion fish > ~/.config/fish/completions/upslice.fish
    """
    if shell not in SHELLS:
        raise typer.BadParameter(f"{shell!r} is not one of {', '.join(SHELLS)}")
    typer.echo(get_completion_script(prog_name="upslice", complete_var=COMPLETE_VAR, shell=shell))


completion_init()  # Typer's completers answer the script's requests (_UPSLICE_COMPLETE=...)
