# The options of the collection's modules that read or change one swarm service
# through a manager's engine:
#   extends_documentation_fragment:
#     - accountservice.swarm.swarm_service

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The name (or ID) of the service.
    type: str
    required: true
  docker_socket:
    description:
      - The unix socket of the Docker engine of a swarm manager.
    type: path
    default: /var/run/docker.sock
"""
