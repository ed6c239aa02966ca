"""Where tasks run: the backend contract and its implementations (``mesos``, ``local``)."""
