// Kaleidoscope: folds the picture into mirrored wedges around the centre.
uniform float amount;     // default 0.0, range 0.0 .. 1.0
uniform float segments;   // default 6.0, range 2.0 .. 24.0
uniform float spin;       // default 0.0, range -1.0 .. 1.0 (radians per second)

uniform sampler2D u_image;
uniform vec2 u_resolution;
uniform float u_phase_spin; // the engine's integral of spin over time, in [0, 2π): no seam, no jump
in vec2 uv;
out vec4 fragColor;

void main() {
    vec2 aspect = vec2(u_resolution.x / u_resolution.y, 1.0);
    vec2 p = (uv - 0.5) * aspect;
    float r = length(p);
    float a = atan(p.y, p.x) + u_phase_spin;
    float wedge = 6.28318530718 / floor(segments);
    a = mod(a, wedge);
    a = min(a, wedge - a);  // mirror every other half-wedge
    vec2 folded = vec2(cos(a), sin(a)) * r / aspect + 0.5;
    vec3 k = texture(u_image, folded).rgb;
    vec3 c = texture(u_image, uv).rgb;
    fragColor = vec4(mix(c, k, amount), 1.0);
}
