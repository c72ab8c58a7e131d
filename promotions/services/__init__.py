"""Every write Patchgate makes to its own records, one function per action, whether
it comes from the API, the MCP endpoint, the admin, a command or a benchmark: each
holds every rule of its action and records who did it in the same transaction.

- `promotions`: submitting a promotion, a lead's decisions on it.
- `access`: pods, their keys and scopes, repositories.
"""
