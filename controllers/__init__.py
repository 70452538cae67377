"""Input families that steer the engine (audio, MIDI, OSC, biofeedback, webcam, keyboard).

Each controller posts timestamped events to the engine's parameter bus and never calls the generator or GL
directly (see DESIGN.md, section 1). They arrive with their own issues; this package is where they live.
"""
