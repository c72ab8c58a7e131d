"""The leads' admin: promotions and their decisions (`promotions`), who may write
where (`access`: repositories, pods, keys), the audit log (`audit`) and the Pod
activity report (`reports`)."""

from . import access, audit, promotions  # noqa: F401  (each registers its ModelAdmins)
