"""A Mesos master test peer: the v1 scheduler HTTP API on a real socket, simulated agents.

Start one, point Hippo's Mesos backend (or any v1 scheduler) at ``peer.url``,
script how tasks behave, inject faults, and assert on the peer's books::

    from hippo_mesos_peer import Fail, MesosMasterPeer, SimAgent

    with MesosMasterPeer(agents=[SimAgent(hostname="agent1", cpus=4, mem=8192)],
                         heartbeat_interval=0.5) as peer:
        peer.add_rule(lambda t: "exit 1" in t["command"]["value"], Fail(after=0.05))
        ...  # drive the scheduler against peer.url
        peer.wait_for(lambda: peer.tasks["t1"].state == "TASK_FAILED")

See its README (``mesos-peer/README.md``) for the protocol it follows and where it is
simpler than a real master.
"""

from hippo_mesos_peer.behaviors import Error, Fail, Finish, Hang, Lose
from hippo_mesos_peer.cluster import AgentRecord, OfferRecord, SimAgent
from hippo_mesos_peer.frameworks import SimFramework
from hippo_mesos_peer.peer import MesosMasterPeer, PeerError
from hippo_mesos_peer.tasks import SimTask

__all__ = [
    "AgentRecord",
    "Error",
    "Fail",
    "Finish",
    "Hang",
    "Lose",
    "MesosMasterPeer",
    "OfferRecord",
    "PeerError",
    "SimAgent",
    "SimFramework",
    "SimTask",
]
