"""Hippo: eat work items off queues and run each as a Docker task on Apache Mesos."""

__version__ = "0.1.0"
