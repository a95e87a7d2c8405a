"""Process limits set before serving: enough file descriptors for ``server.max_connections``.

Each connection is a descriptor, and so is each upstream connection, spooled upload and
database file. A process at its soft ``RLIMIT_NOFILE`` cannot accept anyone, so the soft limit
is raised to the hard one (the most an unprivileged process may take) at start; workers inherit
it. Idle connections are then shed by the header and keep-alive timeouts, and connections over
``server.max_connections`` are answered 503 instead of being dropped.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)
_RESERVE = 256  # upstream connections, spool files, the database, logs
_CEILING = 1 << 20  # when the hard limit is "unlimited", ask for this much


def raise_open_files_limit(max_connections: int) -> int:
    """Raise the soft descriptor limit to the hard one; warn if it is short of the cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.debug("could not raise the open files limit to %d: %s", wanted, exc)
    if soft != resource.RLIM_INFINITY and soft < max_connections + _RESERVE:
        log.warning(
            "the open files limit (%d) is below server.max_connections (%d) plus %d for the "
            "gateway's own files: raise it (ulimit -n) or lower server.max_connections",
            soft,
            max_connections,
            _RESERVE,
        )
    return int(soft)
