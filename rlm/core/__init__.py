"""The engine's core: the ``RLM`` class (``engine``), one run's shared state (``run``), one
agent's loop (``agent``), calls from sandbox code (``subcalls``), what the model reads
(``prompts``), how its replies are read (``parse``, ``observe``) and whether a sub-call's
prompt fits its model (``fit``)."""
