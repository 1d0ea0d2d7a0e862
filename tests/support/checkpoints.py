"""A component snapshot as a restart reads it back: through the checkpoint codec and strict JSON."""

from __future__ import annotations

import json
from typing import Any

from otel_ml.processor.state_codec import decode_state, encode_state


def through_checkpoint(state: Any) -> Any:
    """What ``CheckpointStore.load`` returns for a saved ``state`` (without the file)."""
    return decode_state(json.loads(json.dumps(encode_state(state), allow_nan=False)))
