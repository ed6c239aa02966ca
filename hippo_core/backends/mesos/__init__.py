"""The Mesos backend: Hippo's own client of the Mesos v1 scheduler HTTP API."""
