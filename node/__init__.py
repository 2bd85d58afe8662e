"""SHELL: the peer node (aiohttp app, storage, federation, CLI).

Importing it registers every record family, so that every path that
verifies a log (the app, sync workers, `fabcommons log verify`) knows
every record type and its authorisation rule.
"""

import governance
import registry

__all__ = ["governance", "registry"]
