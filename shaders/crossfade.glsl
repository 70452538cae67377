// Crossfade to a solid colour: fades to black by default (blackouts, panic, the end of a show).
uniform float amount;   // default 0.0, range 0.0 .. 1.0
uniform float red;      // default 0.0, range 0.0 .. 1.0
uniform float green;    // default 0.0, range 0.0 .. 1.0
uniform float blue;     // default 0.0, range 0.0 .. 1.0

uniform sampler2D u_image;
in vec2 uv;
out vec4 fragColor;

void main() {
    vec3 c = texture(u_image, uv).rgb;
    fragColor = vec4(mix(c, vec3(red, green, blue), amount), 1.0);
}
