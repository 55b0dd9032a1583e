# Copyright (c) mmcast contributors. All rights reserved.
from .cli import add_cli_flags, quiet_logs, run_cli

__all__ = ['add_cli_flags', 'quiet_logs', 'run_cli']
