"""The one sequence every change to an environment runs through (`run.Lifecycle`), and what it reports.

`run`: lock, mark interrupted runs, record the run before anything changes, act, finish the run once.
`reports`: the per-host outcomes, the per-run report and the failure that carries it.
`requests`: what an operator asked for. `steps`: host steps deploy and rollback share.
"""
