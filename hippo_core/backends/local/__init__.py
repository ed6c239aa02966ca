"""The ``local`` backend: this machine as Hippo's single agent (what ``hippo up`` runs on).

Settings (``hippo config`` lists them):

- ``local_cpus`` (``HIPPO_LOCAL_CPUS``): cpus offered; default this machine's count.
- ``local_mem`` (``HIPPO_LOCAL_MEM``): memory offered in MB; default this machine's total.
- ``data_dir`` (``HIPPO_DATA_DIR``, default ``~/.hippo``): each attempt's directory is
  ``<data_dir>/tasks/<attempt mesos id>/`` with its ``stdout`` and ``stderr``.

The agent id is ``local-<hostname>``; the agent has no attributes, so constraints on
``hostname`` work and constraints on attributes find nothing. Free cpus and mem are
offered whenever they change and every half second while nobody takes them; a
decline's refuse filter holds them back for its seconds (resources freed meanwhile are
offered at once), ``suppress`` stops offers and ``revive`` restarts them.

How a task runs:

- With a Docker engine (``docker version`` answers when the backend starts): as
  ``docker run`` with the image, ``--cpus``, ``--memory``, volumes, network,
  parameters and labels (see :mod:`.docker`). The ``docker`` client runs with
  Hippo's own environment, so a task's ``PATH`` or ``DOCKER_HOST`` cannot change
  which client runs or which engine it reaches; the task's environment goes to the
  container through ``docker.env`` in the attempt directory (mode 0600, removed
  when the client ends). A variable that file cannot carry exactly (a value with a
  line break, or wrapped in quotes) is passed in the client's environment instead,
  unless the client reads that name itself: then the attempt ends TASK_ERROR.
- Without one: as ``/bin/sh -c <cmd>`` in its own process group, in its attempt
  directory, with the task's environment plus ``PATH``, ``HOME``, ``USER``, ``LANG``
  and a few more from Hippo's own (nothing else of Hippo's environment). The image is
  **not** used: the TASK_STARTING and TASK_RUNNING updates carry a message saying so
  (shown as the task's ``message`` while it runs), and a ``WARNING`` file in the
  attempt directory keeps it (``GET /tasks/{id}/logs/`` shows it as ``warning``).

How it ends: exit code 0 is TASK_FINISHED; any other code or a signal TASK_FAILED
("exit code 3", "killed by signal SIGKILL"); a process that cannot start (its
directory cannot be made, the shell cannot be executed) TASK_ERROR; a kill sends
SIGTERM to the whole process group, SIGKILL after ``kill_grace_seconds`` (5), and
ends as TASK_KILLED. When the command's shell ends, whatever it left running in its
group is killed.

Stopping (Ctrl-C or SIGTERM to ``hippo up``, or a worker losing the lead) kills the
running tasks: no process outlives the backend. The next backend does not know them,
so reconciliation answers TASK_LOST for each, which spends one of the task's
``system_retries`` and runs it again.
"""

from hippo_core.backends.local.logs import LogStore

__all__ = ["LogStore"]
