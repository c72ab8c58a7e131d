"""The promotion engine: applies a branch's queued promotions through the SCM port.

Written once for every adapter. One worker at a time holds a branch's lane (a
lease row renewed by a heartbeat, `lanes`), so promotions for one branch land one
after another in id order while other branches proceed in parallel. Queued
promotions are planned file by file against the branch tip (`planning`), landed as
a chain of commits, one per promotion, and the ref is moved once with a
compare-and-swap; if the branch moved meanwhile, everything is re-read and
re-planned (`landing`). Every commit carries a `Promotion-Id` trailer (`messages`),
which is how a promotion left in `applying` by a crashed worker, or whose answer
was lost, is found or re-applied. What becomes of each promotion, and of its
retry budget, is recorded by `outcomes`.
"""
