"""The engine's core: the ``RLM`` class (``engine``), one run's shared state (``run``), one
agent's loop (``agent``), calls from sandbox code (``subcalls``), what the model reads
(``prompts``), how its replies are read (``parse``, ``observe``) and how much of its
model's window a prompt takes (``budget``, checked in ``Run.ask`` before a call is sent)."""
