"""agentvfs: typed Python access to avfs, durable workspaces (vaults) for AI agents.

It drives the avfs binary with `--json` and reimplements nothing:

    from agentvfs import AVFS
    avfs = AVFS("agent-workspace")
    avfs.create_vault("agent-workspace")
"""

from .client import AVFS, Content, Duration, Since, Size
from .errors import *  # noqa: F401,F403 (every error class is public; errors.__all__ lists them)
from .errors import __all__ as _error_names
from .policy import CommandRules, EnvRules, PathRule, Policy, PolicyInput
from .remotes import *  # noqa: F401,F403 (the remote commands' result types; remotes.__all__ lists them)
from .remotes import __all__ as _remote_names
from .types import *  # noqa: F401,F403 (every result type is public; types.__all__ lists them)
from .types import __all__ as _type_names

__version__ = "0.1.0"

__all__ = [
    "AVFS",
    "Content",
    "Duration",
    "Size",
    "Since",
    "Policy",
    "PolicyInput",
    "CommandRules",
    "PathRule",
    "EnvRules",
    *_error_names,
    *_type_names,
    *_remote_names,
]
