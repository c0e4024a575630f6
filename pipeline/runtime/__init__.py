"""Runtime: the plan, map tasks and their worker, the runner, the executors."""
