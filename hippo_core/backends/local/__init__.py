"""The ``local`` backend: this machine as Hippo's single agent (what ``hippo up`` runs on).

Settings (``hippo config`` lists them):

- ``local_cpus`` (``HIPPO_LOCAL_CPUS``): cpus offered; default this machine's count.
- ``local_mem`` (``HIPPO_LOCAL_MEM``): memory offered in MB; default this machine's total.
- ``max_output_bytes`` (``HIPPO_LOCAL_MAX_OUTPUT_BYTES``, 64 MiB): what is kept of each
  output stream of an attempt; past it one line says the rest was dropped.
- ``data_dir`` (``HIPPO_DATA_DIR``, default ``~/.hippo``): each attempt's directory is
  ``<data_dir>/tasks/<attempt mesos id>/`` with its ``stdout`` and ``stderr``; what the
  backend remembers of its attempts is in ``<data_dir>/local/`` (:mod:`.attempts`).

The agent id is ``local-<hostname>``; the agent has no attributes, so constraints on
``hostname`` work and constraints on attributes find nothing. Free cpus and mem are
offered whenever they change and every half second while nobody takes them; a
decline's refuse filter holds them back for its seconds (resources freed meanwhile are
offered at once), ``suppress`` stops offers and ``revive`` restarts them.

How a task runs: under a *runner* (:mod:`.runner`), a small process in a session of its
own that starts the task, copies its output to the attempt's files (capped), records
how it ended and outlives Hippo:

- With a Docker engine (``docker version`` answers when the backend starts; the
  client finds it through ``DOCKER_HOST`` or the default socket): ``docker create``
  with the image, ``--cpus``, ``--memory``, volumes, network, parameters and labels
  (``hippo.attempt``, ``hippo.instance`` and Hippo's own), then ``docker start
  --attach`` (see :mod:`.docker`). The container is not started with ``--rm``: its
  exit status must outlive a crash of Hippo; the runner removes it (with its
  anonymous volumes) once it has read it. The ``docker`` client runs with Hippo's
  own environment, so a task's ``PATH`` or ``DOCKER_HOST`` cannot change which client
  runs or which engine it reaches; the task's environment goes to the container
  through ``docker.env`` in the attempt directory (mode 0600, removed as soon as the
  container is created). A variable that file cannot carry exactly (a value with a
  line break, or wrapped in quotes) is passed in the client's environment instead,
  unless the client reads that name itself: then the attempt ends TASK_ERROR.
- Without one: as ``/bin/sh -c <cmd>`` in its own process group, in its attempt
  directory, with the task's environment plus ``PATH``, ``HOME``, ``USER``, ``LANG``
  and a few more from Hippo's own (nothing else of Hippo's environment). The image is
  **not** used: the TASK_STARTING and TASK_RUNNING updates carry a message saying so
  (shown as the task's ``message`` while it runs), and a ``WARNING`` file in the
  attempt directory keeps it (``GET /tasks/{id}/logs/`` shows it as ``warning``).

How it ends: exit code 0 is TASK_FINISHED; any other code or a signal TASK_FAILED
("exit code 3", "killed by signal SIGKILL"; a container that reached its memory limit
"out of memory", REASON_CONTAINER_LIMITATION_MEMORY); an image that is not there and
cannot be pulled, or options the engine refuses, TASK_FAILED with
REASON_CONTAINER_LAUNCH_FAILED and docker's words (the definition is at fault: no
system retry is spent on it); a process that cannot start (its directory cannot be
made, the shell cannot be executed, the engine does not answer) TASK_ERROR; a kill
sends SIGTERM to the whole process group (a container: ``docker kill --signal TERM``),
SIGKILL after ``kill_grace_seconds`` (5), and ends as TASK_KILLED. When the command's
shell ends, whatever it left running in its group is killed.

Terms, stops and crashes:

- A leadership term ending (``stop``: the lease lost, Redis stalled) kills nothing:
  the tasks run on and the next term's backend (usually in the same process) adopts
  them from ``<data_dir>/local`` and reports their ends.
- Hippo stopping (``shutdown``: Ctrl-C or SIGTERM to ``hippo up``) kills the running
  tasks and removes their containers: nothing outlives a clean stop. The next start
  reports each TASK_KILLED, "killed when Hippo stopped", which spends one of the
  task's ``system_retries`` and runs it again.
- Hippo killed (SIGKILL, a crash): the runners go on, their tasks' output still flows
  to the files. The next start adopts every attempt still running, reports how the
  others ended (the runner wrote it, or the engine kept the container's state), and
  reports TASK_LOST only for one that really is gone (its runner died without a word,
  or it was accepted but never started), so no task runs twice. Containers carrying
  this Hippo's instance label that no attempt accounts for are removed. Should a
  runner itself die (killed by hand), a container is still attached to (running),
  started (created, never run) or read and removed (ended) by a new runner; what the
  container wrote while no runner was attached is not kept.
"""

from hippo_core.backends.local.logs import LogStore

__all__ = ["LogStore"]
