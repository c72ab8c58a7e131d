"""The `github` adapter: github.com or GitHub Enterprise Server through PyGithub,
with the Git Data API so that a batch is one commit.

Call budget of one batch of N text files, whatever N (1 to 500):
  1. POST  graphql (a query by the branch's name)  read_tip: the head, its tree, the
           repository's node id and every touched path at once (reads.py)
  2. POST  git/trees  (base_tree + inline text content, sha null for deletions)
  3. POST  git/commits
  4. POST  graphql (updateRefs, exact beforeOid)   compare_and_swap (refs.py)
Three writes (2 to 4). On a branch whose tip Patchgate saw last, step 2 is sent beside
step 1, on that tip, and taken if the plan writes exactly that tree (ahead.py): three
round trips in a row. A branch the read does not find costs a GET branches/{branch}
(a missing branch or a missing repository); a refused swap costs a read of the branch
(GitHub does not say why it refused). Binary files add one POST git/blobs each; a
merge or conflict reads the blobs it needs. The client is lazy, so `get_repo` costs
nothing, and the tree sha of every head read or commit written is kept, so a chained
commit (a train) costs only steps 2 and 3, and the tree of each commit is built while
the commit before it is written (`write_chain`).

PyGithub's own retries and write pacing are off: the engine decides when to retry
(through the queue, never a sleeping worker), from the errors mapped below; every
write first takes a unit of its credential's write budget (budget.py), and each
repository's credential (a token, or its App installation) is in client.py.
"""
