"""OpenGL: the compositor, GLSL effects (compiled only after a probe in a separate process), the HUD, outputs."""
