# The attributes the collection's modules document, as fragments to extend with:
#   extends_documentation_fragment:
#     - accountservice.swarm.attributes
#     - accountservice.swarm.attributes.info_module

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means; a module's other fragment says how far it supports it.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying
      target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode)
      when in diff mode.
"""

    # A module that only reads: use together with the standard fragment.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""
