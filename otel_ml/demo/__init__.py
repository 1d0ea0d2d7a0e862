"""otel_ml.demo: the end-to-end demo (``otel-ml demo``) and the compose example app (``otel-ml demo serve``).

Parts, each in its own module:

- ``model``, ``scenario``, ``reference``: the scikit-learn models, the synthetic traffic phases
  (steady, input drift, label decay) and the reference profiles built from the training data;
- ``app``: the instrumented serving app under traffic, with delayed ground truth;
- ``alerting``, ``timescale``: the shipped Prometheus rules and Alertmanager routing, prepared for
  local endpoints with compressed timings, and the real binaries that run them;
- ``notify_sink``: the local Slack / PagerDuty stand-in (over ``otel_ml._support.http_sink``);
  child processes are ``otel_ml._support.processes``;
- ``monitor``, ``view``, ``summary``: what the demo shows live (read from Prometheus's HTTP API)
  and at the end;
- ``runner``, ``serve``, ``options``, ``cli``: the commands.

Importing the package imports none of them.
"""
