// Feedback trails: each frame keeps a share of the previous output, slightly zoomed and turned.
uniform float amount;   // default 0.0, range 0.0 .. 0.98
uniform float zoom;     // default 1.0, range 0.9 .. 1.1
uniform float rotate;   // default 0.0, range -0.1 .. 0.1

uniform sampler2D u_image;
uniform sampler2D u_history;
in vec2 uv;
out vec4 fragColor;

void main() {
    vec2 p = uv - 0.5;
    float s = sin(rotate), c = cos(rotate);
    p = mat2(c, -s, s, c) * p / zoom + 0.5;
    vec3 trail = texture(u_history, p).rgb;
    vec3 now = texture(u_image, uv).rgb;
    fragColor = vec4(max(now, mix(now, trail, amount)), 1.0);
}
