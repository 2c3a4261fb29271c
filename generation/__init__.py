"""Generation of emotion-labelled dialogues: prompts, sampling modes, LLM backends, parsing, validation, runs."""
