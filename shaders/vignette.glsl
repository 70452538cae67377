// Vignette: darkens towards the edges.
uniform float amount;    // default 0.0, range 0.0 .. 1.0
uniform float softness;  // default 0.5, range 0.05 .. 1.0

uniform sampler2D u_image;
in vec2 uv;
out vec4 fragColor;

void main() {
    float d = length(uv - 0.5) * 1.41421356;  // 0 at the centre, 1 in the corners
    float v = 1.0 - amount * smoothstep(1.0 - softness, 1.0, d + amount * softness * 0.5);
    fragColor = vec4(texture(u_image, uv).rgb * v, 1.0);
}
