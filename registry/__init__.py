"""PURE: design records, licences, mesh analysis, workshops, offers, jobs, routing.

Importing the package registers its record types and authorisation rules.
Mesh analysis (`registry.mesh`, trimesh) is imported only where it is used.
"""

from registry import analysis, capacity, designs, jobs

__all__ = ["analysis", "capacity", "designs", "jobs"]
