"""The subprocess sandbox: one worker process per agent runs the model's code on ``context``.

``Sandbox.start(source, config=..., handler=...)`` starts (or takes a warm) worker and loads
the context; ``run(code)`` runs one action; ``get_variable(name)`` reads a variable for a
prose ``FINAL_VAR``; ``close()`` kills the worker's process group. ``Sandbox.begin`` starts
one in the background. ``SandboxPool`` forks its workers from a template process (or keeps
spawned ones warm) and, on ``close()``, makes sure no process of the run is left.
``file_confinement(config)`` says which file confinement a sandbox would get here, without
starting one. Not a security boundary: it keeps honest code from doing damage by accident.
"""

from rlm.sandbox.api import ActionResult, Handler, SandboxConfig
from rlm.sandbox.confine import file_confinement
from rlm.sandbox.host import Sandbox
from rlm.sandbox.pool import SandboxPool

__all__ = ["ActionResult", "Handler", "Sandbox", "SandboxConfig", "SandboxPool",
           "file_confinement"]
