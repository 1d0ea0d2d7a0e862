"""Helpers shared by the demo and the test suite (one copy each): child processes with logs and
readiness probes (``processes``), and a local HTTP server that records what it receives
(``http_sink``). Standard library only; not a public API."""
