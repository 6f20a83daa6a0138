"""The sink package's public names (STYLE.md rule 7): changing them is a decision."""

import pipeline.sink


def test_public_names() -> None:
    assert sorted(pipeline.sink.__all__) == [
        "DEAD_LETTERS", "DeadLetter", "DeadLetters", "Metrics", "Outcome", "Poison", "Sink",
        "SinkConfig", "SinkError", "configure_logging", "dead_letters", "get_dead_letter",
        "new_sink_id", "replay",
    ]
    assert all(hasattr(pipeline.sink, name) for name in pipeline.sink.__all__)
