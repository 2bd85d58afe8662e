"""PURE: proposals, ballots, tallies, value-sharing policies and distributions.

Importing the package registers its record types and authorisation rules.
"""

from governance import ledger, proposals

__all__ = ["ledger", "proposals"]
